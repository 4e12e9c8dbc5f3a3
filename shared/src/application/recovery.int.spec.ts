/** Lost publishes are recovered from the ledger, and repeats of publishes that went out are dropped (SQLite ledger and bus). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteBus } from '../adapters/sqlite/bus-sqlite.ts';
import { openSqliteDatabase, type SqliteDatabase } from '../adapters/sqlite/database.ts';
import { createSqliteLedger } from '../adapters/sqlite/ledger-sqlite.ts';
import { topics } from '../contracts/messages.ts';
import type { Bus, ReceivedMessage } from '../ports/bus.ts';
import type { Ledger } from '../ports/ledger.ts';
import type { PipelineContext } from './context.ts';
import { announce } from './publish.ts';
import { reannounceOpenChunks } from './recovery.ts';

const at = '2026-01-01T00:00:00.000Z';

describe('re-announcing unfinished chunks (SQLite ledger and bus)', () => {
  let dir: string;
  let db: SqliteDatabase;
  let ledger: Ledger;
  let bus: Bus;
  let ctx: PipelineContext;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fm-recovery-'));
    db = openSqliteDatabase(join(dir, 'state.sqlite'));
    ledger = createSqliteLedger(db);
    bus = createSqliteBus(db);
    ctx = { config: { migrationId: 'm1' }, ledger, bus, now: () => new Date() } as unknown as PipelineContext;
    for (const [topic, sub] of [
      [topics.chunkPlanned, 'exporter'],
      [topics.exportPoll, 'exporter'],
    ] as const)
      await bus.declare(topic, sub);
  });
  afterEach(async () => {
    await bus.close();
    await ledger.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function received(topic: string, ms = 800): Promise<ReceivedMessage[]> {
    const got: ReceivedMessage[] = [];
    const sub = bus.subscribe(topic, 'exporter', async (m) => {
      got.push(m);
    });
    await sleep(ms);
    await sub.close();
    return got;
  }

  const plan = (chunkId: string, index: number) => ({
    type: 'ChunkPlanned',
    at,
    data: {
      chunkId,
      index,
      since: '2025-01-01T00:00:00.000Z',
      till: '2025-01-02T00:00:00.000Z',
      expectedCount: 5,
    },
  });

  it('announces a planned chunk whose announcement was lost, once', async () => {
    await ledger.append('m1', 'chunk-000001', 0, [plan('chunk-000001', 1)]);
    expect(await reannounceOpenChunks(ctx)).toBe(1);
    expect(await reannounceOpenChunks(ctx)).toBe(1);
    const got = await received(topics.chunkPlanned);
    expect(got.map((m) => m.body)).toEqual([
      { schemaVersion: 1, migrationId: 'm1', chunkId: 'chunk-000001' },
    ]);
  });

  it('drops the repeat of an announcement that went out', async () => {
    const [event] = await ledger.append('m1', 'chunk-000001', 0, [plan('chunk-000001', 1)]);
    await announce(ctx, topics.chunkPlanned, 'chunk-000001', event?.id ?? '');
    expect((await received(topics.chunkPlanned)).length).toBe(1);
    await reannounceOpenChunks(ctx);
    expect(await received(topics.chunkPlanned)).toEqual([]);
  });

  it('restarts the poll chain of a running export, and leaves settled chunks alone', async () => {
    await ledger.append('m1', 'chunk-000001', 0, [
      plan('chunk-000001', 1),
      { type: 'ExportStarted', at, data: { statusUrl: 'http://s/status/7', attempt: 1 } },
    ]);
    await ledger.append('m1', 'chunk-000002', 0, [
      { ...plan('chunk-000002', 2), data: { ...plan('chunk-000002', 2).data, expectedCount: 0 } },
      { type: 'ChunkSkipped', at, data: { reason: 'empty' } },
    ]);
    expect(await reannounceOpenChunks(ctx)).toBe(1);
    const polls = await received(topics.exportPoll, 1200);
    expect(polls.map((m) => m.body)).toEqual([
      {
        schemaVersion: 1,
        migrationId: 'm1',
        chunkId: 'chunk-000001',
        statusUrl: 'http://s/status/7',
        poll: 0,
      },
    ]);
  });
});
