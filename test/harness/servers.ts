import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureHapiJar } from './jar.ts';
import { hapiJarPath, stateDir } from './paths.ts';

export type ServerRole = 'source' | 'destination';

export interface ServerInfo {
  /** The instance name: 'source' and 'destination' for the test pair, others for the benchmark's servers. */
  role: string;
  port: number;
  /** FHIR base URL, e.g. http://127.0.0.1:8081/fhir */
  baseUrl: string;
  pid: number;
  logFile: string;
  dataDir: string;
  /** Seconds from spawn until /metadata answered (0 when an already running server was reused). */
  startupSeconds: number;
}

export interface StartOptions {
  keepData?: boolean;
  sourcePort?: number;
  destinationPort?: number;
  /** Java heap per server in MB (default 768, never more than 1024). */
  heapMb?: number;
  /** How long to wait for /metadata, in ms (default 300 000: two JVMs start together on 2 cores). */
  startTimeoutMs?: number;
}

const roles: readonly ServerRole[] = ['source', 'destination'];

export function defaultPort(role: ServerRole): number {
  const raw = role === 'source' ? process.env.FHIR_SOURCE_PORT : process.env.FHIR_DEST_PORT;
  const port = raw ? Number(raw) : role === 'source' ? 8081 : 8082;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(
      `${role === 'source' ? 'FHIR_SOURCE_PORT' : 'FHIR_DEST_PORT'}=${raw} is not a TCP port (1-65535)`,
    );
  }
  return port;
}

const pidFile = (name: string) => join(stateDir, `${name}.json`);

/** The marker on a server's command line that lets stop() prove a PID is ours before killing it. */
const instanceMarker = (name: string) => `--fhirtest.instance=${name}`;

export interface InstanceOptions {
  /** Letters, digits and '-': names the data folder, log and PID file under .test-servers/. */
  name: string;
  port: number;
  /** Java heap in MB (default FHIR_TEST_HEAP_MB or 768, never more than 1024). */
  heapMb?: number;
  keepData?: boolean;
  /** Refuse writes whose references do not resolve (the source does; a destination must not). */
  referentialIntegrity: boolean;
  startTimeoutMs?: number;
}

export interface StartHints {
  /** How to stop servers left running, named in the error when one is. */
  stopCommand: string;
  /** What sets an instance's port, named in the error when it is taken. */
  portSetting?: (name: string) => string;
}

/**
 * Starts named HAPI servers together, each with its own data folder; resolves when all answer /metadata.
 * Every instance is checked (not running yet, port free) before any starts, and when one fails to start
 * the others are stopped again.
 */
export async function startInstances(list: InstanceOptions[], hints: StartHints): Promise<ServerInfo[]> {
  const ports = new Set(list.map((o) => o.port));
  if (ports.size !== list.length)
    throw new Error(`two servers would share a port: ${list.map((o) => o.port).join(', ')}`);
  await ensureHapiJar();
  await mkdir(stateDir, { recursive: true });
  for (const o of list) {
    if (!/^[a-z][a-z0-9-]{0,40}$/.test(o.name)) throw new Error(`invalid instance name '${o.name}'`);
    const running = await readRunning(o.name);
    if (running)
      throw new Error(
        `the ${o.name} test server is already running (pid ${running.pid}, ${running.baseUrl}); run '${hints.stopCommand}' first`,
      );
    if (await portInUse(o.port))
      throw new Error(
        `port ${o.port} on 127.0.0.1 is already in use${hints.portSetting ? `; set ${hints.portSetting(o.name)} to a free port` : ''}`,
      );
  }
  const started = await Promise.allSettled(
    list.map((o) =>
      startOne(
        o.name,
        o.port,
        Math.min(o.heapMb ?? Number(process.env.FHIR_TEST_HEAP_MB ?? 768), 1024),
        o.keepData ?? false,
        o.startTimeoutMs ?? 300_000,
        o.referentialIntegrity,
      ),
    ),
  );
  const failures = started.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    for (const o of list) await stopInstance(o.name);
    throw new Error(
      failures.map((f) => (f.reason instanceof Error ? f.reason.message : String(f.reason))).join('\n'),
    );
  }
  return started.map((r) => (r as PromiseFulfilledResult<ServerInfo>).value);
}

/** Stops one named server this harness started (by PID, after checking the PID is ours); false if none ran. */
export async function stopInstance(name: string): Promise<boolean> {
  const info = await readInfo(name);
  if (!info) return false;
  let stopped = false;
  if (isOurs(info.pid, name)) {
    process.kill(info.pid, 'SIGTERM');
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && isAlive(info.pid)) await sleep(200);
    if (isAlive(info.pid)) process.kill(info.pid, 'SIGKILL');
    while (isAlive(info.pid)) await sleep(50);
    stopped = true;
  }
  await rm(pidFile(name), { force: true });
  return stopped;
}

/** Starts the source and the destination together; resolves when both answer /metadata. */
export async function startServers(options: StartOptions = {}): Promise<Record<ServerRole, ServerInfo>> {
  const ports: Record<ServerRole, number> = {
    source: options.sourcePort ?? defaultPort('source'),
    destination: options.destinationPort ?? defaultPort('destination'),
  };
  const [source, destination] = (await startInstances(
    roles.map((role) => ({
      name: role,
      port: ports[role],
      ...(options.heapMb !== undefined ? { heapMb: options.heapMb } : {}),
      ...(options.keepData !== undefined ? { keepData: options.keepData } : {}),
      ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
      referentialIntegrity: role === 'source',
    })),
    {
      stopCommand: 'npm run test-servers:stop',
      portSetting: (name) => (name === 'source' ? 'FHIR_SOURCE_PORT' : 'FHIR_DEST_PORT'),
    },
  )) as [ServerInfo, ServerInfo];
  return { source, destination };
}

async function startOne(
  role: string,
  port: number,
  heapMb: number,
  keepData: boolean,
  timeoutMs: number,
  referentialIntegrity: boolean,
): Promise<ServerInfo> {
  const dataDir = join(stateDir, role, 'data');
  if (!keepData) await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const logFile = join(stateDir, `${role}.log`);
  const log = openSync(logFile, 'w');
  const args = [
    `-Xmx${heapMb}m`,
    '-XX:+UseSerialGC',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.security.egd=file:/dev/./urandom',
    '-jar',
    hapiJarPath,
    instanceMarker(role),
    '--server.address=127.0.0.1',
    `--server.port=${port}`,
    `--spring.datasource.url=jdbc:h2:file:${join(dataDir, 'fhir')};DB_CLOSE_ON_EXIT=FALSE`,
    // A destination accepts resources in any order: $import and batch writes carry forward references.
    `--fhirtest.referential-integrity=${referentialIntegrity}`,
  ];
  const spawnedAt = Date.now();
  const child = spawn('java', args, { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  const pid = await new Promise<number>((resolvePid, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new Error("'java' is not installed or not on PATH (Java 17+ is needed)")
          : err,
      ),
    );
    child.once('spawn', () => resolvePid(child.pid as number));
  });
  child.unref();
  const baseUrl = `http://127.0.0.1:${port}/fhir`;
  const info: ServerInfo = { role, port, baseUrl, pid, logFile, dataDir, startupSeconds: 0 };
  await writeFile(pidFile(role), JSON.stringify(info, null, 2));
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${code ?? signal}`;
  });
  const deadline = spawnedAt + timeoutMs;
  while (Date.now() < deadline) {
    if (exited)
      throw new Error(`the ${role} HAPI server ${exited} during start-up; last log lines:\n${tail(logFile)}`);
    if (await answersMetadata(baseUrl)) {
      info.startupSeconds = (Date.now() - spawnedAt) / 1000;
      await writeFile(pidFile(role), JSON.stringify(info, null, 2));
      return info;
    }
    await sleep(500);
  }
  throw new Error(
    `the ${role} HAPI server did not answer ${baseUrl}/metadata within ${timeoutMs / 1000}s; last log lines:\n${tail(logFile)}`,
  );
}

/** Stops exactly the servers this harness started, by PID, after checking each PID is still ours. */
export async function stopServers(): Promise<ServerRole[]> {
  const stopped: ServerRole[] = [];
  for (const role of roles) if (await stopInstance(role)) stopped.push(role);
  return stopped;
}

/** The server recorded for `role`, if its process is still alive and still ours. */
export async function readRunning(role: string): Promise<ServerInfo | undefined> {
  const info = await readInfo(role);
  return info && isOurs(info.pid, role) ? info : undefined;
}

async function readInfo(role: string): Promise<ServerInfo | undefined> {
  if (!existsSync(pidFile(role))) return undefined;
  return JSON.parse(await readFile(pidFile(role), 'utf8')) as ServerInfo;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; only its parent can reap it.
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

function isOurs(pid: number, role: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(instanceMarker(role)) && cmdline.includes(hapiJarPath);
  } catch {
    return false;
  }
}

/** Resident set size of a process in MB, from /proc. */
export function rssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function answersMetadata(baseUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl}/metadata?_summary=true`, {
      headers: { accept: 'application/fhir+json' },
      signal: AbortSignal.timeout(5000),
    });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolveInUse) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolveInUse(true);
    });
    socket.once('error', () => resolveInUse(false));
  });
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
