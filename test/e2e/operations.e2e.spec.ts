/**
 * The pipeline as it runs for weeks: following new writes while the source stays live, five services as
 * five processes on one state file, and every message delivered twice. Real HAPI servers, the real CLI.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { seedData } from '../data/loader.ts';
import { runCli, startCli } from '../harness/fhir-migrate.ts';
import { reconcile } from '../harness/reconcile.ts';
import { migrationArgs, type StatusJson, seedScenario } from './scenario.ts';

const { sourceUrl, destinationUrl } = inject('fhirServers');

async function statusOf(state: string): Promise<StatusJson | undefined> {
  const res = await runCli(['status', '--state', state, '--json']);
  return res.code === 0 || res.code === 2 ? (JSON.parse(res.stdout) as StatusJson) : undefined;
}

/** Polls until every id is on the destination; returns the seconds it took. */
async function waitForIds(ids: Record<string, string[]>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  const refs = Object.entries(ids).flatMap(([type, list]) => list.map((id) => `${type}/${id}`));
  while (Date.now() - started < timeoutMs) {
    let missing = 0;
    for (const ref of refs)
      if (
        (await fetch(`${destinationUrl}/${ref}`, { headers: { accept: 'application/fhir+json' } })).status !==
        200
      )
        missing++;
    if (missing === 0) return (Date.now() - started) / 1000;
    await sleep(500);
  }
  throw new Error(`not all of ${refs.length} resources reached the destination within ${timeoutMs / 1000}s`);
}

describe('operating the pipeline', () => {
  it('follows a live source: new and updated resources arrive within 3 poll intervals', async () => {
    const s = await seedScenario(sourceUrl, { patients: 10, waves: 1, waveGapMs: 0 });
    // Long enough that one export + import cycle (a few seconds on HAPI) is small against the bound.
    const pollSeconds = 8;
    const run = startCli([
      'run',
      ...migrationArgs(s, sourceUrl, destinationUrl, [
        '--chunk-duration',
        '10s',
        '--poll-interval',
        `${pollSeconds}s`,
      ]),
    ]);
    try {
      await waitForIds(s.report.currentIds, 120_000);
      // While it runs: more patients (new), and wave-2 rewrites of wave-1 resources (updates).
      const more = await seedData({ baseUrl: sourceUrl, seed: s.seed, patients: 20, waves: 2, waveGapMs: 0 });
      const written = Date.now();
      const seconds = await waitForIds(more.currentIds, 60_000);
      const lag = (Date.now() - written) / 1000;
      console.log(
        `[e2e continuous] ${more.totalCurrent} new/updated resources on the destination ${lag.toFixed(1)}s after writing (poll interval ${pollSeconds}s)`,
      );
      expect(seconds).toBeLessThanOrEqual(3 * pollSeconds + 2);
      const result = await reconcile(sourceUrl, destinationUrl, more.currentIds);
      expect({ missing: result.missing, differing: result.differing }).toEqual({
        missing: [],
        differing: [],
      });
    } finally {
      run.child.kill('SIGTERM');
      const ended = await run.done;
      expect(ended.stderr).not.toMatch(/HALTED/);
    }
  });

  it('five services as five processes on one state file complete the same migration', async () => {
    const s = await seedScenario(sourceUrl, { patients: 20, waves: 2, waveGapMs: 3000 });
    const args = migrationArgs(s, sourceUrl, destinationUrl, [
      '--chunk-duration',
      '2s',
      '--poll-interval',
      '2s',
    ]);
    // The planner starts alone and plans before any consumer process exists: its messages must wait for them.
    const services = [startCli(['service', 'planner', ...args])];
    const api = startCli(['service', 'api', '--state', s.state, '--port', '0']);
    try {
      for (let i = 0; i < 120 && !((await statusOf(s.state))?.list.length ?? 0); i++) await sleep(500);
      services.push(
        ...['exporter', 'importer', 'verifier'].map((name) => startCli(['service', name, ...args])),
      );
      const started = Date.now();
      let status: StatusJson | undefined;
      for (;;) {
        status = await statusOf(s.state);
        const done =
          status &&
          status.list.length > 0 &&
          status.list.every((c) => c.status === 'verified' || c.status === 'skipped');
        if (done && status && status.resources.imported >= s.report.totalCurrent) break;
        if (status?.halted.length) throw new Error(`halted: ${JSON.stringify(status.halted)}`);
        if (Date.now() - started > 180_000)
          throw new Error(`not done after 180s: ${JSON.stringify(status?.chunks)}`);
        await sleep(1000);
      }
      expect(status.resources).toMatchObject({ imported: s.report.totalCurrent, failed: 0, rejected: 0 });
      const result = await reconcile(sourceUrl, destinationUrl, s.report.currentIds);
      expect({ missing: result.missing, differing: result.differing }).toEqual({
        missing: [],
        differing: [],
      });
    } finally {
      for (const p of [...services, api]) p.child.kill('SIGTERM');
      const ended = await Promise.all([...services, api].map((p) => p.done));
      for (const e of ended) expect(e.stderr).not.toMatch(/HALTED|Error: /);
    }
  });

  it('stays exact when every message is delivered twice (the first delivery of each fails)', async () => {
    const s = await seedScenario(sourceUrl, { patients: 15, waves: 2, waveGapMs: 3000 });
    const run = await runCli(
      [
        'run',
        '--until-caught-up',
        ...migrationArgs(s, sourceUrl, destinationUrl, ['--chunk-duration', '2s']),
      ],
      {
        FHIR_MIGRATE_TEST_FAIL_FIRST_DELIVERY: '1',
      },
    );
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    const status = await statusOf(s.state);
    expect(status?.resources).toMatchObject({
      exported: s.report.totalCurrent,
      imported: s.report.totalCurrent,
      failed: 0,
      rejected: 0,
    });
    const result = await reconcile(sourceUrl, destinationUrl, s.report.currentIds);
    expect({ missing: result.missing, differing: result.differing }).toEqual({ missing: [], differing: [] });
  });
});
