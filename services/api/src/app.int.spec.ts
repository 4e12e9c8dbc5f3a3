/** The status API over a real SQLite ledger, through Fastify's inject(). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase, type SqliteDatabase } from '@fhir-migrate/shared/adapters/sqlite/database.ts';
import { createSqliteLedger } from '@fhir-migrate/shared/adapters/sqlite/ledger-sqlite.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.ts';

const at = '2026-01-01T00:00:00.000Z';

describe('status API (SQLite ledger, inject)', () => {
  let dir: string;
  let db: SqliteDatabase;
  let ledger: Ledger;
  let app: FastifyInstance;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fm-api-'));
    db = openSqliteDatabase(join(dir, 'state.sqlite'));
    ledger = createSqliteLedger(db);
    await ledger.append('m1', 'migration', 0, [
      {
        type: 'MigrationStarted',
        at,
        data: {
          sourceUrl: 'http://s/fhir',
          destinationUrl: 'http://d/fhir',
          exportDialect: 'hapi',
          importDialect: 'hapi',
          startAt: '2025-01-01T00:00:00.000Z',
          resourceTypes: ['Patient'],
        },
      },
    ]);
    const plan = (index: number, since: string, till: string, expectedCount: number) => ({
      type: 'ChunkPlanned',
      at,
      data: { chunkId: `chunk-00000${index}`, index, since, till, expectedCount },
    });
    await ledger.append('m1', 'chunk-000001', 0, [
      plan(1, '2025-01-01T00:00:00.000Z', '2025-01-31T00:00:00.000Z', 2),
      { type: 'ExportStarted', at, data: { statusUrl: 'http://s/status/1', attempt: 1 } },
      {
        type: 'ExportCompleted',
        at,
        data: {
          files: [
            {
              type: 'Patient',
              key: 'm1/chunk-000001/Patient-0001.ndjson',
              sourceUrl: 'http://s/Binary/1',
              lines: 2,
              bytes: 20,
              sha256: 'ab',
            },
          ],
          exported: { Patient: 2 },
          staged: { Patient: 2 },
          rejected: [],
          outOfWindow: 0,
          deletions: [],
        },
      },
    ]);
    await ledger.append('m1', 'chunk-000002', 0, [
      plan(2, '2025-01-31T00:00:00.000Z', '2025-03-02T00:00:00.000Z', 0),
      { type: 'ChunkSkipped', at, data: { reason: 'empty' } },
    ]);
    app = buildApp({ ledger, now: () => new Date('2025-03-02T00:01:00.000Z') });
  });

  afterAll(async () => {
    await app.close();
    await ledger.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers /healthz', async () => {
    const res = await app.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('summarises a migration', async () => {
    const res = await app.inject({ url: '/api/migrations/m1' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      migrationId: 'm1',
      started: true,
      watermark: '2025-01-01T00:00:00.000Z',
      chunks: { total: 2, byStatus: { exported: 1, skipped: 1 } },
      resources: { exported: 2, staged: 2, imported: 0 },
    });
  });

  it('lists chunks, filtered by status', async () => {
    const all = await app.inject({ url: '/api/migrations/m1/chunks' });
    expect(all.json().map((c: { chunkId: string; status: string }) => [c.chunkId, c.status])).toEqual([
      ['chunk-000001', 'exported'],
      ['chunk-000002', 'skipped'],
    ]);
    const skipped = await app.inject({ url: '/api/migrations/m1/chunks?status=skipped' });
    expect(skipped.json()).toHaveLength(1);
  });

  it("returns one chunk's events, and problem+json for an unknown chunk or a bad id", async () => {
    const events = await app.inject({ url: '/api/migrations/m1/chunks/chunk-000001/events' });
    expect(events.json().map((e: { type: string }) => e.type)).toEqual([
      'ChunkPlanned',
      'ExportStarted',
      'ExportCompleted',
    ]);
    const missing = await app.inject({ url: '/api/migrations/m1/chunks/chunk-000009/events' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toContain('application/problem+json');
    const bad = await app.inject({ url: '/api/migrations/m1/chunks/..%2Fx/events' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ status: 400, title: 'Bad request' });
  });
});
