/**
 * The product end to end against the real HAPI servers, through the real CLI: seeded waves on the source,
 * `fhir-migrate run --until-caught-up`, then every resource compared on both servers. Nothing is mocked.
 */
import { describe, expect, inject, it } from 'vitest';
import { runCli } from '../harness/fhir-migrate.ts';
import { reconcile } from '../harness/reconcile.ts';
import { migrationArgs, type StatusJson, seedScenario } from './scenario.ts';

const { sourceUrl, destinationUrl } = inject('fhirServers');

async function statusOf(state: string): Promise<StatusJson> {
  const res = await runCli(['status', '--state', state, '--json']);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as StatusJson;
}

describe.each([
  { path: 'bulk $export → $import', importDialect: 'hapi' },
  { path: 'bulk $export → REST batches', importDialect: 'rest' },
])('migration through the $path', ({ importDialect }) => {
  it('migrates every resource of three waves, chunk by chunk, with splits and empty windows, nothing lost', async () => {
    // Transactions of 25: a transaction stamps all its entries with one lastUpdated, which no window can split.
    const s = await seedScenario(sourceUrl, { patients: 30, waves: 3, waveGapMs: 4000, bundleSize: 25 });
    const run = await runCli([
      'run',
      '--until-caught-up',
      ...migrationArgs(s, sourceUrl, destinationUrl, [
        '--chunk-duration',
        '2s',
        // Below half a wave (~100 writes), so whichever window holds the larger part of a wave must split;
        // above a transaction (25), so every split can get under it.
        '--chunk-limit',
        '40',
        '--import-dialect',
        importDialect,
        '--deep-check-count',
        '5',
      ]),
    ]);
    console.log(
      `[e2e ${importDialect}] ${s.report.totalCurrent} resources, run --until-caught-up ${run.seconds.toFixed(1)}s, ${(s.report.totalCurrent / run.seconds).toFixed(1)} resources/s, peak RSS ${run.peakRssMb.toFixed(0)} MB`,
    );
    expect(run.code, run.stderr.slice(-3000)).toBe(0);

    const status = await statusOf(s.state);
    expect(status.halted).toEqual([]);
    const withData = status.list.filter((c) => c.status === 'verified');
    const empty = status.list.filter((c) => c.status === 'skipped');
    expect(withData.length).toBeGreaterThanOrEqual(3);
    expect(empty.length).toBeGreaterThanOrEqual(1);
    // A split window is narrower than the configured 2 s without ending at the horizon.
    const split = status.list.filter(
      (c, i) => i < status.list.length - 1 && Date.parse(c.till) - Date.parse(c.since) < 2000,
    );
    expect(split.length).toBeGreaterThanOrEqual(1);
    expect(Math.max(...withData.map((c) => c.staged))).toBeLessThanOrEqual(40);
    expect(status.resources).toMatchObject({
      exported: s.report.totalCurrent,
      imported: s.report.totalCurrent,
      failed: 0,
      rejected: 0,
    });

    const result = await reconcile(sourceUrl, destinationUrl, s.report.currentIds);
    expect(result.checked).toBe(s.report.totalCurrent);
    expect({ missing: result.missing, differing: result.differing }).toEqual({ missing: [], differing: [] });
  });
});

describe('custom SearchParameters', () => {
  it('are copied to the destination before any data, and $reindex is requested — once, not by a second migration', async () => {
    const id = `fm-sp-${Date.now()}`;
    const sp = {
      resourceType: 'SearchParameter',
      id,
      url: `http://example.org/fhir/SearchParameter/${id}`,
      name: id.replaceAll('-', ''),
      status: 'active',
      description: 'fhir-migrate e2e: patients by MRN system',
      code: id.replaceAll('-', ''),
      base: ['Patient'],
      type: 'token',
      expression: 'Patient.identifier',
    };
    const put = await fetch(`${sourceUrl}/SearchParameter/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(sp),
    });
    expect(put.status).toBe(201);
    const s = await seedScenario(sourceUrl, { patients: 3, waves: 1, waveGapMs: 0 });
    const run = await runCli([
      'run',
      '--until-caught-up',
      ...migrationArgs(s, sourceUrl, destinationUrl, ['--chunk-duration', '1h']),
    ]);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const status = await statusOf(s.state);
    expect(status.searchParameters?.copied).toBeGreaterThanOrEqual(1);
    expect(status.searchParameters).toMatchObject({ failures: 0, reindex: 'requested' });
    const result = await reconcile(sourceUrl, destinationUrl, { SearchParameter: [id] });
    expect({ missing: result.missing, differing: result.differing }).toEqual({ missing: [], differing: [] });

    // A second migration into the same destination finds them there already: no write, no reindex.
    const again = await seedScenario(sourceUrl, { patients: 1, waves: 1, waveGapMs: 0 });
    const second = await runCli([
      'run',
      '--until-caught-up',
      ...migrationArgs(again, sourceUrl, destinationUrl, ['--chunk-duration', '1h']),
    ]);
    expect(second.code, second.stderr.slice(-2000)).toBe(0);
    const secondStatus = await statusOf(again.state);
    expect(secondStatus.searchParameters).toMatchObject({ copied: 0, failures: 0, reindex: 'not-needed' });
    expect(secondStatus.searchParameters?.unchanged).toBeGreaterThanOrEqual(1);
  });
});
