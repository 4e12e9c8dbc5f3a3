import { describe, expect, it } from 'vitest';
import { extractReportText, parseBulkImportReport } from './import-report.ts';

// Captured from HAPI FHIR 8.8.0 `$import-poll-status` replies (job ids and ports changed).
const completedDiagnostics =
  '{"reportMsg":"Bulk Import Report\\n------------------------------------------\\nStart Time      : 2026-11-26 13:21:48.411\\nDuration        : 1143ms\\nStorage Actions : 2 (1/sec)\\n------------------------------------------\\nSource: http://127.0.0.1:18099/ok.ndjson\\n  Outcomes:\\n    * SUCCESSFUL_UPDATE_AS_CREATE: 2\\n"}';

const failedDiagnostics =
  '{\n  "reportMsg" : "Bulk Import Report\\n------------------------------------------\\nStart Time      : 2026-11-26 13:22:08.389\\nDuration        : 3057ms\\nStorage Actions : 2 (0/sec)\\n------------------------------------------\\nSource: http://127.0.0.1:18099/s1.ndjson\\n  Outcomes:\\n    * SUCCESSFUL_UPDATE_AS_CREATE: 1\\n    * FAILURE: 1\\n  Errors:\\n    * HAPI-0508: Invalid resource reference found at path[Observation.subject] - Does not contain resource ID - Patient/\\n"\n}';

const multiSource = [
  'Bulk Import Report',
  '------------------------------------------',
  'Start Time      : 2026-11-26 14:00:00.000',
  'Duration        : 12s',
  'Storage Actions : 1310 (109/sec)',
  '------------------------------------------',
  'Source: http://127.0.0.1:40000/files/0.ndjson',
  '  Outcomes:',
  '    * SUCCESSFUL_UPDATE_AS_CREATE: 800',
  '    * SUCCESSFUL_UPDATE_AS_CREATE: 200',
  'Source: http://127.0.0.1:40000/files/1.ndjson',
  '  Outcomes:',
  '    * SUCCESSFUL_UPDATE: 250',
  '    * SUCCESSFUL_UPDATE_NO_CHANGE: 50',
  'Source: https://acct.blob.core.windows.net/staging/2.ndjson?sv=2022-11-02&sig=SECRETSIG',
  '  Outcomes:',
  '    * FAILURE: 2',
  '    * SUCCESSFUL_CREATE: 8',
  '  Errors:',
  '    * HAPI-0931: Invalid reference found at path',
  "      'Observation.subject'. Resource type 'Foo' is not valid for this path",
  '    * HAPI-0508: Invalid resource reference found at path[Observation.subject]',
  '',
].join('\n');

describe('extractReportText', () => {
  it('unwraps the {"reportMsg": …} JSON, compact or pretty-printed', () => {
    expect(extractReportText(completedDiagnostics)).toMatch(/^Bulk Import Report\n/);
    expect(extractReportText(failedDiagnostics)).toMatch(/^Bulk Import Report\n/);
  });

  it('accepts a bare report and refuses other diagnostics', () => {
    expect(extractReportText(multiSource)).toBe(multiSource.trim());
    expect(
      extractReportText('Job is in FAILED state with 1 error count. Last error: HAPI-2674'),
    ).toBeUndefined();
    expect(extractReportText('{"reportMsg":42}')).toBeUndefined();
  });
});

describe('parseBulkImportReport', () => {
  it('reads a completed single-source report', () => {
    const report = parseBulkImportReport(extractReportText(completedDiagnostics) ?? '');
    expect(report.files).toEqual([
      {
        url: 'http://127.0.0.1:18099/ok.ndjson',
        outcomes: { SUCCESSFUL_UPDATE_AS_CREATE: 2 },
        succeeded: 2,
        failed: 0,
        errors: [],
      },
    ]);
  });

  it('counts a HAPI failure once although it appears as FAILURE and as an error line', () => {
    const report = parseBulkImportReport(extractReportText(failedDiagnostics) ?? '');
    expect(report.files).toEqual([
      {
        url: 'http://127.0.0.1:18099/s1.ndjson',
        outcomes: { SUCCESSFUL_UPDATE_AS_CREATE: 1, FAILURE: 1 },
        succeeded: 1,
        failed: 1,
        errors: [
          'HAPI-0508: Invalid resource reference found at path[Observation.subject] - Does not contain resource ID - Patient/',
        ],
      },
    ]);
  });

  it('reads several sources, sums repeated codes, counts NO_CHANGE as success and joins wrapped errors', () => {
    const report = parseBulkImportReport(multiSource);
    expect(report.files.map(({ url, succeeded, failed }) => ({ url, succeeded, failed }))).toEqual([
      { url: 'http://127.0.0.1:40000/files/0.ndjson', succeeded: 1000, failed: 0 },
      { url: 'http://127.0.0.1:40000/files/1.ndjson', succeeded: 300, failed: 0 },
      {
        url: 'https://acct.blob.core.windows.net/staging/2.ndjson?sv=2022-11-02&sig=SECRETSIG',
        succeeded: 8,
        failed: 2,
      },
    ]);
    expect(report.files[0]?.outcomes).toEqual({ SUCCESSFUL_UPDATE_AS_CREATE: 1000 });
    expect(report.files[2]?.errors).toEqual([
      "HAPI-0931: Invalid reference found at path\n'Observation.subject'. Resource type 'Foo' is not valid for this path",
      'HAPI-0508: Invalid resource reference found at path[Observation.subject]',
    ]);
  });

  it('redacts secrets in the raw text but keeps file URLs exact for matching against inputs', () => {
    const report = parseBulkImportReport(multiSource);
    expect(report.raw).not.toContain('SECRETSIG');
    expect(report.raw).toContain('sig=REDACTED');
  });

  it('counts errors listed without outcome codes as failures', () => {
    const report = parseBulkImportReport(
      'Bulk Import Report\nSource: http://h/f.ndjson\n  Errors:\n    * HAPI-2054: fetch failed\n    * HAPI-2056: again\n',
    );
    expect(report.files[0]).toMatchObject({ succeeded: 0, failed: 2 });
  });

  it('returns no files for a report without sources', () => {
    expect(parseBulkImportReport('Bulk Import Report\n---\nStorage Actions : 0 (0/sec)\n').files).toEqual([]);
  });
});
