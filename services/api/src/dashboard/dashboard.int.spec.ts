/** The dashboard's pure helpers (format.js), imported as the browser imports them: plain JS, no build step. */
import { describe, expect, it } from 'vitest';
// @ts-expect-error TS7016: format.js is browser JS with JSDoc types, and the tsconfig has no allowJs.
import * as format from './format.js';

describe('dashboard formatting', () => {
  it('counts, rates and durations', () => {
    expect(format.formatCount(1234567)).toBe('1,234,567');
    expect(format.formatCount(undefined)).toBe('—');
    expect(format.formatCount(Number.NaN)).toBe('—');
    expect(format.formatRate(0)).toBe('0/s');
    expect(format.formatRate(0.05)).toBe('0.050/s');
    expect(format.formatRate(3.14)).toBe('3.1/s');
    expect(format.formatRate(1234.4)).toBe('1,234/s');
    expect(format.formatDuration(42.4)).toBe('42 s');
    expect(format.formatDuration(185)).toBe('3 min 05 s');
    expect(format.formatDuration(7500)).toBe('2 h 05 min');
    expect(format.formatDuration(3 * 86_400 + 4 * 3600 + 59)).toBe('3 d 4 h');
    expect(format.formatDuration(undefined)).toBe('—');
    expect(format.plural(1, 'file')).toBe('1 file');
    expect(format.plural(2, 'file')).toBe('2 files');
  });

  it('instants and windows in UTC, milliseconds only when there are some', () => {
    expect(format.formatInstant('2024-05-01T12:00:03.000Z')).toBe('2024-05-01 12:00:03 UTC');
    expect(format.formatInstant('2024-05-01T14:00:03.250+02:00')).toBe('2024-05-01 12:00:03.250 UTC');
    expect(format.formatInstant('not a date')).toBe('—');
    expect(format.formatClock(Date.parse('2024-05-01T12:00:03Z'))).toBe('12:00:03');
    expect(format.formatWindow('2024-05-01T12:00:00Z', '2024-05-01T12:00:02Z')).toBe(
      '2024-05-01 12:00:00 → 12:00:02 UTC',
    );
    expect(format.formatWindow('2024-05-01T18:00:00Z', '2024-05-02T00:00:00Z')).toBe(
      '2024-05-01 18:00:00 → 2024-05-02 00:00:00 UTC',
    );
  });

  it('chunk progress: verified and empty windows are done', () => {
    expect(
      format.chunkProgress({
        total: 10,
        byStatus: { verified: 5, skipped: 2, failed: 1, planned: 1, importing: 1 },
      }),
    ).toEqual({ total: 10, done: 7, failed: 1, inFlight: 1, fraction: 0.7 });
    expect(format.chunkProgress(undefined)).toEqual({
      total: 0,
      done: 0,
      failed: 0,
      inFlight: 0,
      fraction: 0,
    });
  });

  it('per-type rows: ledger counts beside the newest completed count check, differences flagged', () => {
    const perType = {
      Patient: { exported: 10, imported: 9, failed: 1 },
      Observation: { exported: 5, imported: 5, failed: 0 },
    };
    const runs = [
      { runId: 'r3', kind: 'deep', status: 'completed', deep: { checked: 3, mismatches: [], ok: true } },
      { runId: 'r2', kind: 'surface', status: 'running' },
      {
        runId: 'r1',
        kind: 'surface',
        status: 'completed',
        surface: {
          ok: false,
          rows: [
            { type: 'Patient', source: 10, destination: 9, difference: -1 },
            { type: 'Observation', source: 5, destination: 5, difference: 0 },
            { type: 'Condition', source: 2, destination: 2, difference: 0 },
          ],
        },
      },
    ];
    const run = format.latestCountRun(runs);
    expect(run?.runId).toBe('r1');
    expect(format.typeRows(perType, run)).toEqual([
      {
        type: 'Condition',
        exported: 0,
        imported: 0,
        failed: 0,
        source: 2,
        destination: 2,
        difference: 0,
        mismatched: false,
      },
      {
        type: 'Observation',
        exported: 5,
        imported: 5,
        failed: 0,
        source: 5,
        destination: 5,
        difference: 0,
        mismatched: false,
      },
      {
        type: 'Patient',
        exported: 10,
        imported: 9,
        failed: 1,
        source: 10,
        destination: 9,
        difference: -1,
        mismatched: true,
      },
    ]);
    expect(format.typeRows(perType, undefined).map((r: { source?: number }) => r.source)).toEqual([
      undefined,
      undefined,
    ]);
  });

  it('per-type rows from a full check count differing resources as a mismatch even with equal counts', () => {
    const run = {
      runId: 'f',
      kind: 'full',
      status: 'completed',
      full: {
        rows: [
          {
            type: 'Patient',
            source: 3,
            destination: 3,
            matching: 2,
            missing: 0,
            extra: 0,
            differing: 1,
            pending: 0,
          },
        ],
      },
    };
    expect(format.typeRows({}, run)).toEqual([
      {
        type: 'Patient',
        exported: 0,
        imported: 0,
        failed: 0,
        source: 3,
        destination: 3,
        difference: 0,
        mismatched: true,
      },
    ]);
  });

  it('one line per chunk event, reasons kept as given', () => {
    expect(
      format.describeEvent('ExportCompleted', {
        exported: { Patient: 3, Observation: 4 },
        staged: { Patient: 3, Observation: 3 },
        rejected: [{ reason: 'x' }],
        files: [{}],
        outOfWindow: 0,
        deletions: [],
      }),
    ).toBe('7 exported, 6 staged, 1 rejected, 1 file');
    expect(
      format.describeEvent('ImportFailed', { reason: '<b>HTTP 500</b>', attempt: 2, retryable: true }),
    ).toBe('attempt 2 failed (will retry): <b>HTTP 500</b>');
    expect(format.describeEvent('SomethingNew', { a: 1 })).toBe('{"a":1}');
  });

  it('verification runs in a few words, and each finding on a line', () => {
    const surface = {
      status: 'completed',
      ok: false,
      surface: {
        rows: [
          { type: 'Patient', source: 10, destination: 9, difference: -1 },
          { type: 'Condition', source: 2, destination: 2, difference: 0 },
        ],
      },
      deep: {
        checked: 1,
        mismatches: [{ type: 'Patient', id: 'p1', kind: 'differs', paths: ['name', 'birthDate'] }],
      },
    };
    expect(format.runSummary(surface)).toBe('1 of 2 types differ in count; 1 resource compared, 1 mismatch');
    expect(format.runFindings(surface)).toEqual([
      'Patient: 10 on source, 9 on destination',
      'Patient/p1: differs (name, birthDate)',
    ]);
    expect(format.runSummary({ status: 'failed', error: 'destination answered 503' })).toBe(
      'destination answered 503',
    );
    expect(format.runSummary({ status: 'running' })).toBe('running');
  });

  it('recent throughput from the timeline', () => {
    expect(format.recentRate([])).toBeUndefined();
    expect(format.recentRate([{ at: '2024-05-01T12:00:00Z', imported: 5 }])).toBeUndefined();
    expect(
      format.recentRate([
        { at: '2024-05-01T11:00:00Z', imported: 0 },
        { at: '2024-05-01T12:00:00Z', imported: 100 },
        { at: '2024-05-01T12:00:10Z', imported: 150 },
      ]),
    ).toBe(5);
  });

  it('page labels and axis ticks', () => {
    expect(format.pageLabel(20, 20, 143)).toBe('21–40 of 143');
    expect(format.pageLabel(0, 0, 0)).toBe('0 of 0');
    expect(format.niceTicks(0, 1080, 4)).toEqual([0, 500, 1000]);
    const start = Date.parse('2024-05-01T12:00:07Z');
    expect(format.timeTicks(start, start + 60_000, 4).map((t: { label: string }) => t.label)).toEqual([
      '12:00:15',
      '12:00:30',
      '12:00:45',
      '12:01:00',
    ]);
    // Long axes step in calendar months and years.
    const years = format.timeTicks(Date.parse('2021-03-10T00:00:00Z'), Date.parse('2024-11-01T00:00:00Z'), 4);
    expect(years.map((t: { label: string }) => t.label)).toEqual(['2022', '2023', '2024']);
    expect(
      years.every((t: { at: number }) => new Date(t.at).toISOString().endsWith('-01-01T00:00:00.000Z')),
    ).toBe(true);
  });
});
