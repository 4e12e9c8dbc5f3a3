import { describe, expect, it } from 'vitest';
import { parseOperationOutcome } from '../operation-outcome.ts';
import { hapiImportParameters, reportFromOutcome } from './import-hapi.ts';

describe('hapiImportParameters', () => {
  it('builds the Parameters body HAPI expects', () => {
    const body = JSON.parse(
      hapiImportParameters(
        [
          { type: 'Patient', url: 'http://127.0.0.1:9/p.ndjson' },
          { type: 'Observation', url: 'https://s.test/o.ndjson?sig=x' },
        ],
        { maxBatchResourceCount: 500 },
      ),
    );
    expect(body).toEqual({
      resourceType: 'Parameters',
      parameter: [
        { name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
        {
          name: 'storageDetail',
          part: [
            { name: 'type', valueCode: 'https' },
            { name: 'maxBatchResourceCount', valueString: '500' },
          ],
        },
        {
          name: 'input',
          part: [
            { name: 'type', valueCode: 'Patient' },
            { name: 'url', valueUri: 'http://127.0.0.1:9/p.ndjson' },
          ],
        },
        {
          name: 'input',
          part: [
            { name: 'type', valueCode: 'Observation' },
            { name: 'url', valueUri: 'https://s.test/o.ndjson?sig=x' },
          ],
        },
      ],
    });
  });

  it('refuses no inputs, non-http URLs and bad batch sizes', () => {
    expect(() => hapiImportParameters([])).toThrow(/at least one input/);
    expect(() => hapiImportParameters([{ type: 'Patient', url: 'file:///tmp/p.ndjson' }])).toThrow(/http/);
    expect(() =>
      hapiImportParameters([{ type: 'Patient', url: 'http://h/p' }], { maxBatchResourceCount: 0 }),
    ).toThrow();
  });
});

describe('reportFromOutcome', () => {
  it('finds the report in the second issue of a FAILED reply', () => {
    const outcome = parseOperationOutcome({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          diagnostics:
            'Job is in FAILED state with 0 error count. Last error: HAPI-2673: Job completed with at least one failure',
        },
        {
          severity: 'error',
          diagnostics:
            '{\n  "reportMsg" : "Bulk Import Report\\nSource: http://h/f.ndjson\\n  Outcomes:\\n    * FAILURE: 1\\n"\n}',
        },
      ],
    });
    expect(reportFromOutcome(outcome)?.files).toEqual([
      { url: 'http://h/f.ndjson', outcomes: { FAILURE: 1 }, succeeded: 0, failed: 1, errors: [] },
    ]);
  });

  it('returns undefined when no issue holds a report (a parse failure kills the job before any report)', () => {
    const outcome = parseOperationOutcome({
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', diagnostics: 'Job is in FAILED state with 1 error count.' },
        { severity: 'error' },
      ],
    });
    expect(reportFromOutcome(outcome)).toBeUndefined();
  });
});
