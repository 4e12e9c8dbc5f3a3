/**
 * Vitest global setup for the `azure` project: provides Azure Storage to test files as `inject('azurite')`.
 * - AZURE_STORAGE_CONNECTION_STRING set: that account is used as it is (nothing started or stopped).
 * - otherwise: Azurite's blob service alone (`azurite-blob`) is started in memory on an ephemeral
 *   127.0.0.1 port and stopped by PID when the run ends.
 *
 * Azurite 3.35.0 rejects the API version of @azure/storage-blob 12.32.0 unless started with
 * `--skipApiVersionCheck`; the process is spawned with `process.execPath` (never `npx`, whose PID does not
 * stop Azurite).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { repoRoot } from './paths.ts';

export interface AzuriteContext {
  connectionString: string;
  /** Blob endpoint including the account path, e.g. `http://127.0.0.1:43087/devstoreaccount1`. */
  blobEndpoint: string;
  /** Started by this run, or an external account from AZURE_STORAGE_CONNECTION_STRING. */
  origin: 'started' | 'external';
}

declare module 'vitest' {
  export interface ProvidedContext {
    azurite: AzuriteContext;
  }
}

/** Azurite's well-known development account (public, documented by Microsoft). */
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const ENTRY = join(repoRoot, 'node_modules', 'azurite', 'dist', 'src', 'blob', 'main.js');
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
/** "Azurite Blob service successfully listens on http://127.0.0.1:37647" (3.35, blob only) or "… is successfully listening at …". */
const LISTENING =
  /Blob service (?:successfully listens on|is successfully listening at) (http:\/\/\S+?)\/?\s/;

function blobEndpointOf(connectionString: string): string {
  const parts = new Map(
    connectionString
      .split(';')
      .filter((part) => part.includes('='))
      .map((part) => {
        const at = part.indexOf('=');
        return [part.slice(0, at).toLowerCase(), part.slice(at + 1)] as const;
      }),
  );
  const explicit = parts.get('blobendpoint');
  if (explicit) return explicit.replace(/\/$/, '');
  if (parts.get('usedevelopmentstorage') === 'true') return `http://127.0.0.1:10000/${ACCOUNT}`;
  const account = parts.get('accountname');
  if (!account) throw new Error('AZURE_STORAGE_CONNECTION_STRING has neither BlobEndpoint nor AccountName');
  return `${parts.get('defaultendpointsprotocol') ?? 'https'}://${account}.blob.${parts.get('endpointsuffix') ?? 'core.windows.net'}`;
}

async function startAzurite(): Promise<{ child: ChildProcess; baseUrl: string; startupMs: number }> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      ENTRY,
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--silent',
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`Azurite did not start within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = LISTENING.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(match[1]);
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(new Error(`Azurite exited during start-up (code ${code}, signal ${signal})`));
    function fail(error: Error) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${error.message}; output:\n${output.slice(-2000)}`));
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('exit', onExit);
    child.once('error', (error) => fail(error));
  });
  // Keep draining the pipes so that Azurite never blocks on a full stdout.
  child.stdout?.resume();
  child.stderr?.resume();
  return { child, baseUrl, startupMs: performance.now() - started };
}

/** Sends `signal` to the child by PID unless it has already exited. */
function signal(child: ChildProcess, name: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(child.pid, name);
  } catch {
    // Exited meanwhile (ESRCH).
  }
}

/** SIGTERM, then SIGKILL if Azurite is still running after STOP_TIMEOUT_MS. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signal(child, 'SIGTERM');
  const timer = setTimeout(() => signal(child, 'SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env.AZURE_STORAGE_CONNECTION_STRING;
  if (external) {
    project.provide('azurite', {
      connectionString: external,
      blobEndpoint: blobEndpointOf(external),
      origin: 'external',
    });
    return undefined;
  }
  const { child, baseUrl, startupMs } = await startAzurite();
  const blobEndpoint = `${baseUrl}/${ACCOUNT}`;
  console.log(`[azurite] blob ${blobEndpoint} up in ${(startupMs / 1000).toFixed(2)}s (pid ${child.pid})`);
  project.provide('azurite', {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`,
    blobEndpoint,
    origin: 'started',
  });
  // If the run dies without teardown (Ctrl-C), do not leave Azurite listening.
  const killOnExit = () => signal(child, 'SIGKILL');
  process.once('exit', killOnExit);
  return async () => {
    process.off('exit', killOnExit);
    await stop(child);
  };
}
