/**
 * The exporter's handlers on a real SQLite ledger and bus and a real staging folder, with an in-memory
 * export dialect standing in for the source so that its failures can be chosen.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ExportDialect, ExportPoll } from '@fhir-migrate/shared/adapters/fhir-http/dialects/types.ts';
import { createSqliteBus } from '@fhir-migrate/shared/adapters/sqlite/bus-sqlite.ts';
import { openSqliteDatabase, type SqliteDatabase } from '@fhir-migrate/shared/adapters/sqlite/database.ts';
import { createSqliteLedger } from '@fhir-migrate/shared/adapters/sqlite/ledger-sqlite.ts';
import { createFsStaging, type FsStaging } from '@fhir-migrate/shared/adapters/staging-fs/staging-fs.ts';
import { loadChunk } from '@fhir-migrate/shared/application/chunk-store.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import type { Bus } from '@fhir-migrate/shared/ports/bus.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onChunkPlanned, onExportPoll } from './handlers.ts';

const at = '2026-01-01T00:00:00.000Z';
const line = '{"resourceType":"Patient","id":"p1","meta":{"lastUpdated":"2025-01-01T10:00:00Z"}}\n';

describe('exporter handlers (SQLite ledger and bus, staging folder, in-memory export dialect)', () => {
  let dir: string;
  let db: SqliteDatabase;
  let ledger: Ledger;
  let bus: Bus;
  let staging: FsStaging;
  let poll: ExportPoll;
  let openFile: (url: string) => Promise<Readable>;
  let cancelled: string[];
  /** What the source answers to a count of the window now. */
  let sourceCount: number;
  let clock: Date | undefined;

  const ctx = (): PipelineContext =>
    ({
      config: { migrationId: 'm1', resourceTypes: ['Patient'], maxAttempts: 2, jobTimeout: 3_600_000 },
      ledger,
      bus,
      staging,
      source: { baseUrl: 'http://src', json: async () => ({ body: { total: sourceCount } }) },
      exportDialect: {
        name: 'bulkdata',
        kickOff: async () => ({ statusUrl: 'http://src/status/1' }),
        poll: async () => poll,
        openFile: (url: string) => openFile(url),
        cancel: async (url: string) => {
          cancelled.push(url);
        },
      } as ExportDialect,
      now: () => clock ?? new Date(),
      log: pino({ level: 'silent' }),
    }) as unknown as PipelineContext;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fm-exporter-'));
    db = openSqliteDatabase(join(dir, 'state.sqlite'));
    ledger = createSqliteLedger(db);
    bus = createSqliteBus(db);
    staging = await createFsStaging({ root: join(dir, 'staging') });
    poll = {
      state: 'completed',
      manifest: {
        transactionTime: at,
        requiresAccessToken: false,
        output: [{ type: 'Patient', url: 'http://src/Binary/1' }],
        deleted: [],
        error: [],
      },
    };
    openFile = async () => Readable.from([Buffer.from(line)]);
    cancelled = [];
    clock = undefined;
    sourceCount = 1;
    await ledger.append('m1', 'chunk-000001', 0, [
      {
        type: 'ChunkPlanned',
        at,
        data: {
          chunkId: 'chunk-000001',
          index: 1,
          since: '2025-01-01T00:00:00.000Z',
          till: '2025-01-02T00:00:00.000Z',
          expectedCount: 1,
        },
      },
    ]);
  });
  afterEach(async () => {
    await staging.close();
    await bus.close();
    await ledger.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  const message = { schemaVersion: 1 as const, migrationId: 'm1', chunkId: 'chunk-000001' };

  it('kicks off, records the job URL, then stages and completes the export', async () => {
    await onChunkPlanned(ctx(), message);
    expect((await loadChunk(ledger, 'm1', 'chunk-000001')).state).toMatchObject({
      status: 'exporting',
      statusUrl: 'http://src/status/1',
    });
    await onExportPoll(ctx(), { ...message, statusUrl: 'http://src/status/1', poll: 0 });
    const { state } = await loadChunk(ledger, 'm1', 'chunk-000001');
    expect(state.status).toBe('exported');
    expect(state.exportResult?.staged).toEqual({ Patient: 1 });
  });

  it('a download that breaks counts as a failed attempt, and the chunk fails with the reason once attempts run out', async () => {
    openFile = async () =>
      new Readable({
        read() {
          this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
        },
      });
    await onChunkPlanned(ctx(), message);
    await onExportPoll(ctx(), { ...message, statusUrl: 'http://src/status/1', poll: 0 });
    let { state } = await loadChunk(ledger, 'm1', 'chunk-000001');
    expect(state).toMatchObject({ status: 'planned', exportAttempts: 1 });
    expect(state.lastReason).toContain('socket hang up');
    await onChunkPlanned(ctx(), message);
    await onExportPoll(ctx(), { ...message, statusUrl: 'http://src/status/1', poll: 0 });
    ({ state } = await loadChunk(ledger, 'm1', 'chunk-000001'));
    expect(state.status).toBe('failed');
    expect(state.failure).toMatchObject({ stage: 'export' });
    expect(state.failure?.reason).toMatch(/gave up after 2 attempts: .*socket hang up/);
  });

  it('a redelivered poll of a completed export changes nothing', async () => {
    await onChunkPlanned(ctx(), message);
    await onExportPoll(ctx(), { ...message, statusUrl: 'http://src/status/1', poll: 0 });
    const before = await ledger.readStream('m1', 'chunk-000001');
    await onExportPoll(ctx(), { ...message, statusUrl: 'http://src/status/1', poll: 0 });
    await onChunkPlanned(ctx(), message);
    expect(await ledger.readStream('m1', 'chunk-000001')).toEqual(before);
  });

  it('an export still running after the job timeout is cancelled and counted as a failed attempt, with the reason', async () => {
    poll = { state: 'running', progress: 'Build in progress' };
    await onChunkPlanned(ctx(), message);
    await onExportPoll(ctx(), { ...message, statusUrl: 'http://src/status/1', poll: 0 });
    expect((await loadChunk(ledger, 'm1', 'chunk-000001')).state.status).toBe('exporting');
    expect(cancelled).toEqual([]);
    clock = new Date(Date.now() + 3_600_000 + 1_000);
    await onExportPoll(ctx(), { ...message, statusUrl: 'http://src/status/1', poll: 1 });
    const { state } = await loadChunk(ledger, 'm1', 'chunk-000001');
    expect(cancelled).toEqual(['http://src/status/1']);
    expect(state).toMatchObject({ status: 'planned', exportAttempts: 1 });
    expect(state.lastReason).toBe(
      '$export job still running after the job timeout of 3600s (jobTimeout), last progress: Build in progress; cancelled',
    );
  });

  it('an export that delivers fewer resources than the source holds in the window is made again, not migrated short', async () => {
    sourceCount = 3;
    await onChunkPlanned(ctx(), message);
    await onExportPoll(ctx(), { ...message, statusUrl: 'http://src/status/1', poll: 0 });
    const { state } = await loadChunk(ledger, 'm1', 'chunk-000001');
    expect(state).toMatchObject({ status: 'planned', exportAttempts: 1 });
    expect(state.lastReason).toBe(
      'the export delivered fewer resources than the source holds in the window: Patient 1 of 3',
    );
  });
});
