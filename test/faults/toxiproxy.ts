/**
 * Toxiproxy for the fault suite: built from the Go module proxy with `go install` (once, into
 * .test-servers/bin), started on 127.0.0.1 by the suite and stopped by its PID.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Toxiproxy } from 'toxiproxy-node-client';
import { stateDir } from '../harness/paths.ts';

/** Pinned: the newest v2 the module proxy served when the suite was written. */
export const toxiproxyModule = 'github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0';
const binDir = join(stateDir, 'bin');
const binary = join(binDir, 'toxiproxy-server');

export async function ensureToxiproxy(): Promise<string> {
  if (existsSync(binary)) return binary;
  mkdirSync(binDir, { recursive: true });
  const started = Date.now();
  try {
    await promisify(execFile)('go', ['install', toxiproxyModule], {
      env: { ...process.env, GOBIN: binDir, CGO_ENABLED: '0' },
      timeout: 600_000,
    });
  } catch (err) {
    throw new Error(
      `could not build Toxiproxy with 'go install ${toxiproxyModule}' (Go and the Go module proxy are needed): ${(err as Error).message}`,
    );
  }
  // `go install` names the binary after the package folder.
  renameSync(join(binDir, 'server'), binary);
  console.log(`[faults] built Toxiproxy in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return binary;
}

export interface RunningToxiproxy {
  client: Toxiproxy;
  apiUrl: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startToxiproxy(port: number): Promise<RunningToxiproxy> {
  const bin = await ensureToxiproxy();
  mkdirSync(stateDir, { recursive: true });
  const log = openSync(join(stateDir, 'toxiproxy.log'), 'a');
  const child: ChildProcess = spawn(bin, ['-host', '127.0.0.1', '-port', String(port)], {
    stdio: ['ignore', log, log],
  });
  const apiUrl = `http://127.0.0.1:${port}`;
  const client = new Toxiproxy(apiUrl);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`Toxiproxy exited with ${child.exitCode}; see .test-servers/toxiproxy.log`);
    try {
      await client.getVersion();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`Toxiproxy did not answer on ${apiUrl} within 30 s`);
      }
      await sleep(100);
    }
  }
  const pid = child.pid ?? 0;
  // For a CI clean-up after a crash of the suite itself: stop by this PID, never by name.
  const pidFile = join(stateDir, 'toxiproxy.pid');
  writeFileSync(pidFile, String(pid));
  return {
    client,
    apiUrl,
    pid,
    stop: async () => {
      rmSync(pidFile, { force: true });
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
