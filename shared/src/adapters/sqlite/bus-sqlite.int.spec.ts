import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Bus } from '../../ports/bus.ts';
import { busContract } from '../../testing/bus-contract.ts';
import { createSqliteBus, type SqliteBusOptions } from './bus-sqlite.ts';
import { lockOwnerIsDead } from './bus-sqlite-store.ts';
import { openSqliteDatabase, type SqliteDatabase } from './database.ts';

async function tempStore() {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-migrate-bus-'));
  const file = join(dir, 'bus.db');
  const dbs: SqliteDatabase[] = [];
  const buses: Bus[] = [];
  return {
    dir,
    open(options?: SqliteBusOptions): { bus: Bus; db: SqliteDatabase } {
      const db = openSqliteDatabase(file);
      const bus = createSqliteBus(db, options);
      dbs.push(db);
      buses.push(bus);
      return { bus, db };
    },
    async cleanup(): Promise<void> {
      for (const bus of buses) await bus.close();
      for (const db of dbs) db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

busContract('SQLite', async () => {
  const store = await tempStore();
  return {
    bus: store.open().bus,
    connect: async ({ lockRenewal }) => store.open({ lockRenewal }).bus,
    cleanup: store.cleanup,
  };
});

describe('SQLite bus', () => {
  it('forgets published ids after the duplicate-detection window', async () => {
    const store = await tempStore();
    try {
      let now = new Date('2025-01-01T00:00:00Z');
      const { bus, db } = store.open({ now: () => now, duplicateWindowMs: 60_000 });
      await bus.declare('t', 's');
      await bus.publish('t', [{ id: 'm', body: 1 }]);
      const count = db.prepare('SELECT count(*) FROM bus_messages').pluck();
      const received: unknown[] = [];
      const sub = bus.subscribe('t', 's', async (m) => void received.push(m.body));
      await expect.poll(() => received).toEqual([1]);
      await sub.close();
      now = new Date(now.getTime() + 30_000);
      await bus.publish('t', [{ id: 'm', body: 2 }]);
      expect(count.get()).toBe(0);
      now = new Date(now.getTime() + 31_000);
      await bus.publish('t', [{ id: 'm', body: 3 }]);
      expect(count.get()).toBe(1);
    } finally {
      await store.cleanup();
    }
  });

  it('reports receive-loop failures to onError and keeps polling', async () => {
    const store = await tempStore();
    try {
      const errors: unknown[] = [];
      const { bus, db } = store.open({ onError: (error) => errors.push(error) });
      await bus.declare('t', 's');
      await bus.publish('t', [{ id: 'm', body: {} }]);
      db.exec(`CREATE TEMP TRIGGER no_settling BEFORE DELETE ON bus_messages
               BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
      const counts: number[] = [];
      const sub = bus.subscribe('t', 's', async (m) => void counts.push(m.deliveryCount), { lockMs: 200 });
      await expect.poll(() => errors.length).toBeGreaterThan(0);
      expect(String(errors[0])).toContain('disk on fire');
      db.exec('DROP TRIGGER no_settling');
      await expect.poll(() => counts, { timeout: 3000 }).toEqual([1, 2]);
      await sub.close();
      expect(db.prepare('SELECT count(*) FROM bus_messages').pluck().get()).toBe(0);
    } finally {
      await store.cleanup();
    }
  });

  it('refuses invalid subscribe options and work after close', async () => {
    const store = await tempStore();
    try {
      const { bus } = store.open();
      await bus.declare('t', 's');
      expect(() => bus.subscribe('t', 's', async () => {}, { concurrency: 0 })).toThrow(RangeError);
      expect(() => bus.subscribe('t', 's', async () => {}, { lockMs: 1.5 })).toThrow(RangeError);
      await expect(bus.replayDeadLetter('t', 's', 'missing')).rejects.toThrow(/no dead letter/);
      await bus.close();
      await expect(bus.publish('t', [{ id: 'm', body: {} }])).rejects.toThrow(/closed/);
    } finally {
      await store.cleanup();
    }
  });
});

describe('SQLite bus after a receiver was killed (kill -9)', () => {
  it("a bus opened on the same host delivers the dead receiver's message at once, not after lockMs", async () => {
    const store = await tempStore();
    try {
      const { bus } = store.open();
      await bus.declare('work', 'workers');
      await bus.publish('work', [{ id: 'm1', body: { n: 1 } }]);
      const worker = fileURLToPath(new URL('./orphan-lock.worker.ts', import.meta.url));
      const file = join(store.dir, 'bus.db');
      const child = spawn(process.execPath, ['--import', 'tsx', worker, file], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await once(child.stdout, 'data');
      child.kill('SIGKILL');
      await once(child, 'exit');
      const received: { id: string; deliveryCount: number }[] = [];
      const started = Date.now();
      // The default lock is 60 s: without the release this waits a minute.
      const { bus: restarted } = store.open();
      await restarted.subscribe('work', 'workers', async (m) => {
        received.push({ id: m.id, deliveryCount: m.deliveryCount });
      });
      while (received.length === 0 && Date.now() - started < 20_000)
        await new Promise((r) => setTimeout(r, 50));
      expect(received).toEqual([{ id: 'm1', deliveryCount: 2 }]);
    } finally {
      await store.cleanup();
    }
  });

  it('only locks of processes gone from this host count as dead', () => {
    const uuid = '123e4567-e89b-12d3-a456-426614174000';
    expect(lockOwnerIsDead(`h1/${process.pid}/${uuid}`, 'h1')).toBe(false);
    expect(lockOwnerIsDead(`h1/999999999/${uuid}`, 'h1')).toBe(true);
    expect(lockOwnerIsDead(`other-host/999999999/${uuid}`, 'h1')).toBe(false);
    expect(lockOwnerIsDead(uuid, 'h1')).toBe(false);
  });
});
