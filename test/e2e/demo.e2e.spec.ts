/**
 * `npm run demo`, the README's main job, as a newcomer runs it — stopped by itself after a while instead of
 * Ctrl-C — must migrate a live source and end with a clean reconciliation.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../harness/paths.ts';

const { sourceUrl, destinationUrl } = inject('fhirServers');

describe('npm run demo', () => {
  it('seeds, migrates a source that keeps being written to, serves the dashboard, and reconciles clean', async () => {
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
        'test/demo/demo.ts',
        '--seconds',
        '15',
        '--port',
        '0',
        '--patients',
        '6',
      ],
      {
        cwd: repoRoot,
        env: { ...process.env, FHIR_SOURCE_URL: sourceUrl, FHIR_DEST_URL: destinationUrl },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, out.slice(-4000)).toBe(0);
    expect(out).toMatch(/\[demo\] dashboard: http:\/\/127\.0\.0\.1:\d+\//);
    const written = /wrote (\d+) new and (\d+) updated resources while migrating/.exec(out);
    expect(Number(written?.[1])).toBeGreaterThan(0);
    expect(Number(written?.[2])).toBeGreaterThan(0);
    expect(out).toContain('verification: CLEAN');
    expect(out).toMatch(/full reconciliation .*CLEAN/);
    expect(out).toContain('reconciliation CLEAN');
  });
});
