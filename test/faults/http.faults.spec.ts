/**
 * HTTP-level faults from the loopback shim, which a TCP proxy cannot make: throttling (429 with and without
 * Retry-After, and absurd Retry-After values), server errors (500/502/503), and bulk jobs that report
 * failure. Each run must end with every seeded resource on the destination, nothing extra.
 */
import { describe, expect, it } from 'vitest';
import { logLines, runFault, useFaultyPaths } from './fault-run.ts';
import type { RuleHandle, ShimRequest } from './shim.ts';

const isExportKickOff = (r: ShimRequest) => r.method === 'GET' && /\/(\$|%24)export\?/.test(r.path);
const isExportPoll = (r: ShimRequest) => r.method === 'GET' && /(\$|%24)export-poll-status/.test(r.path);
const isImportSubmit = (r: ShimRequest) => r.method === 'POST' && /\/(\$|%24)import$/.test(r.path);
const isImportPoll = (r: ShimRequest) => r.method === 'GET' && /(\$|%24)import-poll-status/.test(r.path);
const isCount = (r: ShimRequest) => r.method === 'GET' && /_summary=count/.test(r.path);
const isRead = (r: ShimRequest) => r.method === 'GET' && /\/fhir\/[A-Z][A-Za-z]+\/[^/?$]+$/.test(r.path);

const failedJob = (text: string) =>
  JSON.stringify({
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'exception', diagnostics: `Job failed: ${text}` }],
  });

const total = (handles: RuleHandle[]) => () => handles.reduce((n, h) => n + h.hits, 0);

describe('HTTP faults (loopback shim)', () => {
  const { paths, common } = useFaultyPaths();

  it('429 without Retry-After on the $export kick-off, twice', async () => {
    const outcome = await runFault({
      ...common(),
      fault: '429 without Retry-After ($export kick-off)',
      inject: async () =>
        total([
          paths.source.shim.add({
            name: '429',
            match: isExportKickOff,
            times: 2,
            action: { kind: 'status', status: 429 },
          }),
        ]),
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.injected).toBe(2);
  });

  it('429 with Retry-After: 2 on count queries, three times', async () => {
    const outcome = await runFault({
      ...common(),
      fault: '429 with Retry-After: 2 (count queries)',
      inject: async () =>
        total([
          paths.source.shim.add({
            name: '429 retry-after',
            match: isCount,
            times: 3,
            action: { kind: 'status', status: 429, headers: { 'retry-after': '2' } },
          }),
        ]),
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.injected).toBe(3);
    const waits = logLines(outcome.run.stderr, /retrying/).map((l) => l.delayMs);
    expect(waits.filter((w) => w === 2000).length).toBeGreaterThanOrEqual(3);
  });

  it('429 with absurd Retry-After values (99999999 s, a date in 9999) on export status polls', async () => {
    const outcome = await runFault({
      ...common(),
      fault: '429 with absurd Retry-After (export polls)',
      inject: async () =>
        total([
          paths.source.shim.add({
            name: 'absurd seconds',
            match: isExportPoll,
            action: { kind: 'status', status: 429, headers: { 'retry-after': '99999999' } },
          }),
          paths.source.shim.add({
            name: 'absurd date',
            match: isExportPoll,
            action: {
              kind: 'status',
              status: 429,
              headers: { 'retry-after': 'Fri, 31 Dec 9999 23:59:59 GMT' },
            },
          }),
        ]),
      detail: (o) =>
        `polls slowed, never stretched past the poll schedule; exit 0 in ${o.run.seconds.toFixed(0)} s`,
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.injected).toBe(2);
    // The whole run stays well under the 60 s a clamped Retry-After could have cost.
    expect(outcome.run.seconds).toBeLessThan(120);
  });

  it('500, 502 and 503 on reads of the destination (deep check) and on source counts', async () => {
    const outcome = await runFault({
      ...common(),
      fault: '500 / 502 / 503 on reads and counts',
      inject: async () =>
        total(
          [500, 502, 503].flatMap((status) => [
            paths.destination.shim.add({
              name: `${status} read`,
              match: isRead,
              action: { kind: 'status', status },
            }),
            paths.source.shim.add({
              name: `${status} count`,
              match: isCount,
              action: { kind: 'status', status },
            }),
          ]),
        ),
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.injected).toBe(6);
  });

  it('503 on the $import submit (a POST: not retried blindly, the attempt is counted and made again)', async () => {
    const outcome = await runFault({
      ...common(),
      fault: '503 on the $import submit',
      inject: async () =>
        total([
          paths.destination.shim.add({
            name: '503',
            match: isImportSubmit,
            action: { kind: 'status', status: 503 },
          }),
        ]),
      detail: (o) =>
        `not retried by the client (a POST the server may have acted on): the import attempt failed ("${String(logLines(o.run.stderr, /import failed/)[0]?.reason).slice(0, 80)}") and was made again; exit 0`,
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.injected).toBe(1);
    expect(logLines(outcome.run.stderr, /import failed/)).toHaveLength(1);
  });

  it('an $export job that reports failure', async () => {
    const outcome = await runFault({
      ...common(),
      fault: '$export job reports failure',
      inject: async () =>
        total([
          paths.source.shim.add({
            name: 'export failed',
            match: isExportPoll,
            action: { kind: 'status', status: 500, body: failedJob('injected export failure') },
          }),
        ]),
      detail: (o) =>
        `attempt failed with the job's reason, export kicked off again (${o.scenario.report.totalCurrent} resources); exit 0 in ${o.run.seconds.toFixed(0)} s`,
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.injected).toBe(1);
    expect(logLines(outcome.run.stderr, /export failed/).map((l) => l.reason)).toEqual([
      expect.stringContaining('injected export failure'),
    ]);
  });

  it('an $import job that reports failure', async () => {
    const outcome = await runFault({
      ...common(),
      fault: '$import job reports failure',
      inject: async () =>
        total([
          paths.destination.shim.add({
            name: 'import failed',
            match: isImportPoll,
            action: { kind: 'status', status: 500, body: failedJob('injected import failure') },
          }),
        ]),
      detail: (o) => `chunk applied through REST batches instead; exit 0 in ${o.run.seconds.toFixed(0)} s`,
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.injected).toBe(1);
    expect(logLines(outcome.run.stderr, /through REST instead/).map((l) => l.reason)).toEqual([
      expect.stringContaining('injected import failure'),
    ]);
  });
});
