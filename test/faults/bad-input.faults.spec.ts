/**
 * Bad input: export files with a malformed line, a resource of the wrong type, or nothing at all; a
 * resource the destination refuses; a manifest pointing at another host; a job that never completes;
 * invalid settings; an unreachable destination. Each must give a clear error in the ledger and the
 * status, let the rest of the data migrate, and never count as migrated what was not.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { migrationArgs, seedScenario } from '../e2e/scenario.ts';
import { runCli } from '../harness/fhir-migrate.ts';
import { logLines, recordRow, runFault, useFaultyPaths } from './fault-run.ts';
import type { RuleHandle, ShimRequest } from './shim.ts';

const { sourceUrl, destinationUrl } = inject('fhirServers');

const isDownload = (r: ShimRequest) => r.method === 'GET' && /\/Binary\//.test(r.path);
const isExportPoll = (r: ShimRequest) => r.method === 'GET' && /(\$|%24)export-poll-status/.test(r.path);
const isBatch = (r: ShimRequest) => r.method === 'POST' && /\/fhir\/?$/.test(r.path);
const hits = (h: RuleHandle) => () => h.hits;

/** The first line's type and lastUpdated, so an injected line can sit inside the same window. */
function firstLine(body: string): { type: string; lastUpdated: string; lines: number } {
  const lines = body.split('\n').filter((l) => l.trim());
  const first = JSON.parse(lines[0] ?? '{}') as { resourceType: string; meta: { lastUpdated: string } };
  return { type: first.resourceType, lastUpdated: first.meta.lastUpdated, lines: lines.length };
}

describe('bad input', () => {
  const { paths, common } = useFaultyPaths();

  it('an export file with a malformed line: refused with its file and line, the rest migrates', async () => {
    let lineNo = 0;
    const outcome = await runFault({
      ...common(),
      fault: 'malformed NDJSON line in an export file',
      inject: async () =>
        hits(
          paths.source.shim.add({
            name: 'malformed line',
            match: isDownload,
            action: {
              kind: 'rewrite',
              rewrite: (body) => {
                lineNo = firstLine(body).lines + 1;
                return `${body.replace(/\n?$/, '\n')}{"resourceType":"Patient","id":"broken-1",\n`;
              },
            },
          }),
        ),
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(1);
    expect(outcome.run.stderr).toMatch(/caught up to .*, but 1 resources could not be migrated/);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.status?.resources.rejected).toBe(1);
    expect(outcome.status?.failures).toEqual([
      expect.objectContaining({
        line: lineNo,
        reason: 'invalid-json',
        file: expect.stringMatching(/\.ndjson$/),
      }),
    ]);
  });

  it('a resource of the wrong type in a file: refused with its file and line, the rest migrates', async () => {
    const outcome = await runFault({
      ...common(),
      fault: 'resource of the wrong type in a file',
      inject: async () =>
        hits(
          paths.source.shim.add({
            name: 'wrong type',
            match: isDownload,
            action: {
              kind: 'rewrite',
              rewrite: (body) => {
                const { type, lastUpdated } = firstLine(body);
                const other = type === 'Patient' ? 'Observation' : 'Patient';
                const line = JSON.stringify({
                  resourceType: other,
                  id: 'wrong-type-1',
                  meta: { lastUpdated },
                });
                return `${body.replace(/\n?$/, '\n')}${line}\n`;
              },
            },
          }),
        ),
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(1);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(outcome.status?.resources.rejected).toBe(1);
    expect(outcome.status?.failures).toEqual([
      expect.objectContaining({
        reason: 'wrong-type',
        file: expect.stringMatching(/\.ndjson$/),
        line: expect.any(Number),
      }),
    ]);
  });

  it('an export file that arrives empty: the shortfall is caught and the export made again', async () => {
    const outcome = await runFault({
      ...common(),
      fault: 'empty export file',
      inject: async () =>
        hits(
          paths.source.shim.add({
            name: 'empty',
            match: isDownload,
            action: { kind: 'rewrite', rewrite: () => '' },
          }),
        ),
      detail: (o) =>
        `attempt failed: "${String(logLines(o.run.stderr, /export failed/)[0]?.reason).slice(0, 120)}"; exported again, exit 0`,
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
    expect(logLines(outcome.run.stderr, /export failed/).map((l) => l.reason)).toEqual([
      expect.stringMatching(
        /^the export delivered fewer resources than the source holds in the window: \w+ 0 of \d+$/,
      ),
    ]);
  });

  it('a resource the destination refuses (REST batch entry answered 422): recorded as failed with file and line', async () => {
    const outcome = await runFault({
      ...common(),
      fault: 'destination refuses a resource (REST)',
      args: ['--import-dialect', 'rest'],
      inject: async () =>
        hits(
          paths.destination.shim.add({
            name: 'refuse first entry',
            match: isBatch,
            action: {
              kind: 'rewrite',
              rewrite: (body) => {
                const bundle = JSON.parse(body) as { entry: { response: Record<string, unknown> }[] };
                const first = bundle.entry[0];
                if (first)
                  first.response = {
                    status: '422 Unprocessable Entity',
                    outcome: {
                      resourceType: 'OperationOutcome',
                      issue: [{ severity: 'error', code: 'processing', diagnostics: 'injected: refused' }],
                    },
                  };
                return JSON.stringify(bundle);
              },
            },
          }),
        ),
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(1);
    expect(outcome.status?.resources.failed).toBe(1);
    expect(outcome.status?.failures).toEqual([
      expect.objectContaining({
        reason: expect.stringContaining('HTTP 422'),
        file: expect.stringMatching(/\.ndjson$/),
        line: 1,
      }),
    ]);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
  });

  it('a manifest pointing at another host is refused (no SSRF); the next attempt migrates', async () => {
    let rewritten = 0;
    const outcome = await runFault({
      ...common(),
      fault: 'manifest file URL on another host (SSRF)',
      inject: async () => {
        const rule: RuleHandle = paths.source.shim.add({
          name: 'ssrf',
          match: isExportPoll,
          times: 1000,
          action: {
            kind: 'rewrite',
            rewrite: (body) => {
              if (rewritten > 0 || !body.includes('"output"')) return body;
              rewritten++;
              rule.remove();
              const manifest = JSON.parse(body) as { output: { url: string }[] };
              for (const o of manifest.output) o.url = 'http://169.254.169.254/latest/meta-data/iam/';
              return JSON.stringify(manifest);
            },
          },
        });
        return () => rewritten;
      },
      detail: (o) =>
        `refused before any request to it: "${String(logLines(o.run.stderr, /export failed/)[0]?.reason).slice(0, 110)}"; exported again, exit 0`,
    });
    expect(outcome.run.code, outcome.run.stderr.slice(-2000)).toBe(0);
    expect(outcome.injected).toBe(1);
    expect(logLines(outcome.run.stderr, /export failed/).map((l) => l.reason)).toEqual([
      expect.stringContaining('169.254.169.254'),
    ]);
    expect(outcome.damage).toMatchObject({ lost: [], duplicated: [] });
  });

  it('an export that never completes times out with a clear reason, and nothing is counted as migrated', async () => {
    const outcome = await runFault({
      ...common(),
      fault: '$export never completes (job timeout 4 s, 2 tries)',
      args: ['--job-timeout', '4s', '--max-attempts', '2'],
      inject: async () =>
        hits(
          paths.source.shim.add({
            name: 'forever running',
            match: isExportPoll,
            times: 100_000,
            action: { kind: 'status', status: 202, headers: { 'x-progress': 'in progress (forever)' } },
          }),
        ),
    });
    expect(outcome.status?.halted).toEqual([
      {
        chunkId: expect.any(String),
        reason:
          'gave up after 2 attempts: $export job still running after the job timeout of 4s (jobTimeout), last progress: in progress (forever); cancelled',
      },
    ]);
    expect(outcome.status?.resources.imported).toBe(0);
    // Each timed-out job was cancelled on the source.
    expect(
      paths.source.shim.seen.filter((r) => r.method === 'DELETE' && /export-poll-status/.test(r.path)),
    ).toHaveLength(2);
    expect(outcome.run.code).toBe(2);
  });
});

describe('bad settings and an unreachable destination', () => {
  it('invalid settings are refused before anything starts, each named', async () => {
    const started = Date.now();
    const s = await seedScenario(sourceUrl, { patients: 1, waves: 1, waveGapMs: 0 });
    const cases: [string, string[], RegExp][] = [
      ['--chunk-limit=-5', ['--chunk-limit=-5'], /chunkLimit from flag --chunk-limit = -5/],
      [
        '--chunk-duration 5x',
        ['--chunk-duration', '5x'],
        /chunkDuration from flag --chunk-duration = "5x": expected a duration/,
      ],
      [
        '--source ftp://…',
        ['--source', 'ftp://example.org/fhir'],
        /source\.url from flag --source = "ftp:\/\/example\.org\/fhir": expected an http\(s\) URL/,
      ],
      ['--job-timeout never', ['--job-timeout', 'never'], /jobTimeout from flag --job-timeout = "never"/],
      ['--max-attempts 0', ['--max-attempts', '0'], /maxAttempts from flag --max-attempts = 0/],
    ];
    const results: string[] = [];
    for (const [label, flags, message] of cases) {
      const run = await runCli([
        'run',
        '--until-caught-up',
        ...migrationArgs(s, sourceUrl, destinationUrl),
        ...flags,
      ]);
      results.push(label);
      expect(run.code, label).toBe(1);
      expect(run.stderr, label).toMatch(/^invalid configuration:/);
      expect(run.stderr, label).toMatch(message);
    }
    expect(existsSync(s.state)).toBe(false);
    recordRow({
      fault: 'invalid settings',
      injected: cases.length,
      outcome: 'refused',
      detail: `each refused with exit 1 naming the setting (${results.join('; ')}); no state file written`,
      lost: 0,
      duplicated: 0,
      seconds: (Date.now() - started) / 1000,
    });
  });

  it('an unreachable destination stops the run at start with a clear reason, before any chunk', async () => {
    const started = Date.now();
    const s = await seedScenario(sourceUrl, { patients: 1, waves: 1, waveGapMs: 0 });
    const run = await runCli([
      'run',
      '--until-caught-up',
      ...migrationArgs(s, sourceUrl, 'http://127.0.0.1:9/fhir'),
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(
      /destination FHIR server http:\/\/127\.0\.0\.1:9\/fhir does not answer \/metadata/,
    );
    const planned = existsSync(join(s.state))
      ? (await runCli(['status', '--state', s.state, '--json'])).stdout
      : '';
    expect(planned.includes('"chunkId"')).toBe(false);
    recordRow({
      fault: 'unreachable destination at start',
      injected: 1,
      outcome: 'refused',
      detail: `exit ${run.code}: "${run.stderr.trim().split('\n').at(-1)?.slice(0, 160)}"; no chunk planned`,
      lost: 0,
      duplicated: 0,
      seconds: (Date.now() - started) / 1000,
    });
  });
});
