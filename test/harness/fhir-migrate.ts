/** Runs the real `fhir-migrate` CLI as a child process, the way an operator would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';

const bin = join(repoRoot, 'cli', 'bin', 'fhir-migrate.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
  /** Peak resident set size of the process in MB (sampled every 200 ms from /proc). */
  peakRssMb: number;
}

export function startCli(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const started = Date.now();
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: repoRoot,
    env: { ...process.env, FHIR_MIGRATE_LOG_LEVEL: process.env.FHIR_MIGRATE_LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let peakRssMb = 0;
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const sampler = setInterval(async () => {
    try {
      const { readFile } = await import('node:fs/promises');
      const kb = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      if (kb) peakRssMb = Math.max(peakRssMb, Number(kb) / 1024);
    } catch {
      // the process has exited
    }
  }, 200);
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code) => {
      clearInterval(sampler);
      resolve({ code, stdout, stderr, seconds: (Date.now() - started) / 1000, peakRssMb });
    });
  });
  return { child, done };
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, env).done;
}
