/**
 * Vitest global setup for the `azure` project: provides Cosmos DB to test files as `inject('cosmosEmulator')`.
 * - COSMOS_ENDPOINT and COSMOS_KEY set: that account (or emulator) is used as it is; nothing is started.
 * - otherwise: `@vercel/cosmosdb-server` (in memory, no authentication) is started in a child process on
 *   127.0.0.1 and a free port, over plain HTTP, and stopped by its PID when the run ends.
 *
 * Plain HTTP, because the server's bundled certificate expired in 2021: no TLS check is relaxed anywhere. A
 * client of it needs `connectionPolicy.enableEndpointDiscovery: false`, since the account metadata
 * advertises `https://host:port/` as the write location.
 *
 * The child is a tiny script rather than the package's CLI so that it exits when its stdin closes: if the
 * vitest process dies without running the teardown, the server does not outlive it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { TestProject } from 'vitest/node';
import { repoRoot } from './paths.ts';

export interface CosmosEmulator {
  endpoint: string;
  key: string;
  /** `started` by this run (cosmosdb-server over HTTP) or `external` (COSMOS_ENDPOINT / COSMOS_KEY). */
  origin: 'started' | 'external';
}

declare module 'vitest' {
  export interface ProvidedContext {
    cosmosEmulator: CosmosEmulator;
  }
}

/** The well-known key of the Azure Cosmos DB emulator; cosmosdb-server accepts any key. */
const emulatorKey =
  'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';

const serverScript = `
const { createHttpServer } = require('@vercel/cosmosdb-server');
const server = createHttpServer().listen(0, '127.0.0.1', () => {
  process.stdout.write('cosmosdb-server listening on ' + server.address().port + '\\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
`;

const startTimeoutMs = 15_000;

async function startServer(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-e', serverScript], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`cosmosdb-server did not start within ${startTimeoutMs} ms: ${output.trim()}`));
    }, startTimeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /cosmosdb-server listening on (\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`cosmosdb-server exited (${code ?? signal}) before listening: ${output.trim()}`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return { child, port };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const endpoint = process.env.COSMOS_ENDPOINT;
  const key = process.env.COSMOS_KEY;
  if (endpoint && key) {
    project.provide('cosmosEmulator', { endpoint, key, origin: 'external' });
    return undefined;
  }
  const startedAt = performance.now();
  const { child, port } = await startServer();
  console.log(
    `[cosmos-emulator] cosmosdb-server pid ${child.pid} on http://127.0.0.1:${port} up in ${Math.round(performance.now() - startedAt)} ms`,
  );
  project.provide('cosmosEmulator', {
    endpoint: `http://127.0.0.1:${port}`,
    key: emulatorKey,
    origin: 'started',
  });
  return async () => {
    await stopServer(child);
  };
}
