import type {
  ImportErrorLine,
  ImportReport,
} from '@fhir-migrate/shared/adapters/fhir-http/dialects/types.ts';
import type { StagedFile } from '@fhir-migrate/shared/contracts/events.ts';
import { describe, expect, it } from 'vitest';
import { resultFromErrorFiles } from './import-errors.ts';

const account = 'https://stage.blob.core.windows.net/staging';
const staged = (type: string, key: string, lines: number): StagedFile => ({
  type,
  key,
  lines,
  sourceUrl: 'https://export/x',
  bytes: lines * 100,
  sha256: 'ab',
});
const files = [
  staged('Patient', 'm1/c1/job-1/Patient-0001.ndjson', 5),
  staged('Observation', 'm1/c1/job-1/Observation-0002.ndjson', 10),
];

function report(
  entries: { key: string; succeeded: number; failed: number; errorFiles?: string[] }[],
): ImportReport {
  return {
    raw: '',
    files: entries.map((e) => ({
      url: `${account}/${e.key}`,
      outcomes: {},
      succeeded: e.succeeded,
      failed: e.failed,
      errors: [],
      ...(e.errorFiles ? { errorFiles: e.errorFiles } : {}),
    })),
  };
}

const errorFiles: Record<string, ImportErrorLine[]> = {
  'https://stage/fhirlogs/Observation_1.ndjson': [
    { line: 4, reason: 'Version conflict' },
    { line: 0, reason: 'Invalid resource' },
  ],
};
const read = async (url: string) => errorFiles[url] ?? [];

describe('a partly successful $import read from its error files', () => {
  it('records the refused resources with staged file and line, and the rest as imported', async () => {
    const result = await resultFromErrorFiles(
      report([
        { key: 'm1/c1/job-1/Patient-0001.ndjson', succeeded: 5, failed: 0 },
        {
          key: 'm1/c1/job-1/Observation-0002.ndjson',
          succeeded: 8,
          failed: 2,
          errorFiles: ['https://stage/fhirlogs/Observation_1.ndjson'],
        },
      ]),
      files,
      read,
    );
    expect(result).toEqual({
      imported: { Patient: 5, Observation: 8 },
      failed: { Observation: 2 },
      failures: [
        {
          type: 'Observation',
          file: 'm1/c1/job-1/Observation-0002.ndjson',
          line: 4,
          reason: 'Version conflict',
        },
        {
          type: 'Observation',
          file: 'm1/c1/job-1/Observation-0002.ndjson',
          reason: 'Invalid resource (line 0 as the destination counts)',
        },
      ],
    });
  });

  it('leaves it to REST when anything does not add up', async () => {
    const ok = { key: 'm1/c1/job-1/Patient-0001.ndjson', succeeded: 5, failed: 0 };
    const obs = (e: Partial<{ succeeded: number; failed: number; errorFiles: string[] }>) => ({
      key: 'm1/c1/job-1/Observation-0002.ndjson',
      succeeded: 8,
      failed: 2,
      errorFiles: ['https://stage/fhirlogs/Observation_1.ndjson'],
      ...e,
    });
    // fewer error lines than the report's failures
    expect(
      await resultFromErrorFiles(report([ok, obs({ failed: 2, succeeded: 8, errorFiles: [] })]), files, read),
    ).toBeUndefined();
    // stored + failed short of the file's lines
    expect(await resultFromErrorFiles(report([ok, obs({ succeeded: 7 })]), files, read)).toBeUndefined();
    // a staged file missing from the report
    expect(await resultFromErrorFiles(report([obs({})]), files, read)).toBeUndefined();
    // an input the chunk did not stage
    expect(
      await resultFromErrorFiles(
        report([ok, obs({}), { key: 'm1/c9/x.ndjson', succeeded: 1, failed: 0 }]),
        files,
        read,
      ),
    ).toBeUndefined();
  });
});
