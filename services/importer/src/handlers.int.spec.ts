/**
 * The importer's handling of a partly successful AHDS $import, on a real SQLite ledger and bus. The AHDS
 * dialect is a fake here (no AHDS can run on this machine): it reports 8 of 10 Observations stored and an
 * error file naming the other 2.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  BulkImportDialect,
  ImportReport,
} from '@fhir-migrate/shared/adapters/fhir-http/dialects/types.ts';
import { createSqliteBus } from '@fhir-migrate/shared/adapters/sqlite/bus-sqlite.ts';
import { openSqliteDatabase, type SqliteDatabase } from '@fhir-migrate/shared/adapters/sqlite/database.ts';
import { createSqliteLedger } from '@fhir-migrate/shared/adapters/sqlite/ledger-sqlite.ts';
import { executeChunk, loadChunk } from '@fhir-migrate/shared/application/chunk-store.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import type { Bus } from '@fhir-migrate/shared/ports/bus.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onImportPoll } from './handlers.ts';

const at = '2026-01-01T00:00:00.000Z';
const jobUrl = 'https://ws-fhir.fhir.azurehealthcareapis.com/_operations/import/7';
const key = 'm1/chunk-000001/job-0123456789abcdef/Observation-0001.ndjson';

describe('importer: a partly successful AHDS $import (fake AHDS dialect: none can run here)', () => {
  let dir: string;
  let db: SqliteDatabase;
  let ledger: Ledger;
  let bus: Bus;
  let restCalls: number;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fm-importer-'));
    db = openSqliteDatabase(join(dir, 'state.sqlite'));
    ledger = createSqliteLedger(db);
    bus = createSqliteBus(db);
    restCalls = 0;
    const step = async (command: Parameters<typeof executeChunk>[3]) =>
      executeChunk(ledger, 'm1', 'chunk-000001', command);
    await step(() => ({
      type: 'Plan',
      at,
      chunkId: 'chunk-000001',
      index: 0,
      since: '2025-01-01T00:00:00.000Z',
      till: '2025-02-01T00:00:00.000Z',
      expectedCount: 10,
    }));
    await step(() => ({ type: 'StartExport', at, statusUrl: 'https://src/_operations/export/1' }));
    await step(() => ({
      type: 'CompleteExport',
      at,
      result: {
        files: [{ type: 'Observation', key, sourceUrl: 'https://x', lines: 10, bytes: 1000, sha256: 'ab' }],
        exported: { Observation: 10 },
        staged: { Observation: 10 },
        rejected: [],
        outOfWindow: 0,
        deletions: [],
      },
    }));
    await step(() => ({ type: 'StartImport', at, mode: 'bulk', jobUrl }));
  });
  afterEach(async () => {
    await bus.close();
    await ledger.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  function context(errorLines: number, includeHistory = false): PipelineContext {
    const report: ImportReport = {
      raw: '',
      files: [
        {
          url: `https://stage.blob.core.windows.net/staging/${key}`,
          outcomes: {},
          succeeded: 8,
          failed: 2,
          errors: [],
          errorFiles: ['https://stage.blob.core.windows.net/fhirlogs/Observation7_1.ndjson'],
        },
      ],
    };
    const bulkImport: BulkImportDialect = {
      name: 'ahds',
      submit: async () => ({ jobUrl }),
      poll: async () => ({ state: 'completed', report }),
      readErrors: async () =>
        [
          { line: 4, reason: 'Version conflict' },
          { line: 9, reason: 'Invalid reference' },
        ].slice(0, errorLines),
    };
    return {
      config: {
        migrationId: 'm1',
        maxAttempts: 5,
        restBundleSize: 100,
        restConcurrency: 1,
        source: { exportDialect: 'azure', azureExport: { includeHistory, includeDeleted: false } },
      },
      ledger,
      bus,
      bulkImport,
      rest: {
        apply: async () => {
          restCalls += 1;
          throw new Error('REST must not run in this test');
        },
        applyDeletes: async () => ({ deleted: 0 }),
      },
      now: () => new Date(at),
      log: pino({ level: 'silent' }),
    } as unknown as PipelineContext;
  }

  /** Handles one import poll, then returns the chunk's events after its ImportStarted. */
  async function pollOnceAndReadAfter(ctx: PipelineContext) {
    await onImportPoll(ctx, {
      schemaVersion: 1,
      migrationId: 'm1',
      chunkId: 'chunk-000001',
      jobUrl,
      poll: 3,
    });
    const events = await ledger.readStream('m1', 'chunk-000001');
    return events.slice(events.findIndex((e) => e.type === 'ImportStarted') + 1);
  }

  it('records the two refused resources with file and line and the eight others as imported, without REST', async () => {
    await onImportPoll(context(2), {
      schemaVersion: 1,
      migrationId: 'm1',
      chunkId: 'chunk-000001',
      jobUrl,
      poll: 3,
    });
    const { state } = await loadChunk(ledger, 'm1', 'chunk-000001');
    expect(state.status).toBe('imported');
    expect(state.importResult).toMatchObject({
      imported: { Observation: 8 },
      failed: { Observation: 2 },
      failures: [
        { type: 'Observation', file: key, line: 4, reason: 'Version conflict' },
        { type: 'Observation', file: key, line: 9, reason: 'Invalid reference' },
      ],
    });
    expect(restCalls).toBe(0);
  });

  it('falls back to REST when the error files name fewer resources than the report says failed', async () => {
    const after = await pollOnceAndReadAfter(context(1));
    expect(after.map((e) => e.type).slice(0, 2)).toEqual(['ImportFailed', 'ImportStarted']);
    expect(after[0]?.data).toMatchObject({
      reason: '$import report accounts for 8 stored + 2 failed of 10 staged',
    });
    expect(after[1]?.data).toMatchObject({ mode: 'rest' });
    expect(after.some((e) => e.type === 'ImportCompleted')).toBe(false);
  });

  it('with history in the files, retries the $import instead of REST, which would lose versions', async () => {
    const after = await pollOnceAndReadAfter(context(1, true));
    expect(after.map((e) => e.type)).toEqual(['ImportFailed']);
    expect(after[0]?.data).toMatchObject({
      reason: expect.stringMatching(/holds history or soft-deleted versions, which only \$import carries/),
      retryable: true,
    });
    const { state } = await loadChunk(ledger, 'm1', 'chunk-000001');
    expect(state.status).toBe('exported'); // ready for another $import
    expect(restCalls).toBe(0);
  });
});
