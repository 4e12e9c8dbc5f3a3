import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReceivedMessage } from '../../ports/bus.ts';
import { createSqliteBus } from './bus-sqlite.ts';
import { openSqliteDatabase } from './database.ts';

/** The bus tables as the first releases created them: no `properties` columns. */
const firstReleaseBusTables = `
CREATE TABLE bus_subscriptions (topic TEXT NOT NULL, subscription TEXT NOT NULL, declared_at INTEGER NOT NULL,
  PRIMARY KEY (topic, subscription));
CREATE TABLE bus_messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, subscription TEXT NOT NULL,
  message_id TEXT NOT NULL, body TEXT NOT NULL, enqueued_at INTEGER NOT NULL, visible_at INTEGER NOT NULL,
  lock_token TEXT, delivery_count INTEGER NOT NULL DEFAULT 0, UNIQUE (topic, subscription, message_id));
CREATE TABLE bus_dead_letters (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,
  subscription TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL, enqueued_at INTEGER NOT NULL,
  delivery_count INTEGER NOT NULL, reason TEXT NOT NULL, dead_lettered_at INTEGER NOT NULL,
  UNIQUE (topic, subscription, message_id));
INSERT INTO bus_subscriptions VALUES ('t', 's', 0);
INSERT INTO bus_messages (topic, subscription, message_id, body, enqueued_at, visible_at)
  VALUES ('t', 's', 'old', '{"n":1}', 0, 0);
`;

describe('SQLite state file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fhir-migrate-db-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gains the properties columns when a file written before them is opened, keeping its messages', async () => {
    const file = join(dir, 'old.sqlite');
    const old = new Database(file);
    old.exec(firstReleaseBusTables);
    old.close();

    const db = openSqliteDatabase(file);
    // Opening twice must not try to add the columns again.
    openSqliteDatabase(file).close();
    const bus = createSqliteBus(db);
    try {
      const received: ReceivedMessage[] = [];
      const sub = bus.subscribe('t', 's', async (m) => void received.push(m));
      await bus.publish('t', [{ id: 'new', body: { n: 2 }, properties: { traceparent: 'tp' } }]);
      await expect.poll(() => received.length).toBe(2);
      await sub.close();
      const byId = new Map(received.map((m) => [m.id, m]));
      expect(byId.get('old')?.body).toEqual({ n: 1 });
      expect(byId.get('old')?.properties).toBeUndefined();
      expect(byId.get('new')?.properties).toEqual({ traceparent: 'tp' });
    } finally {
      await bus.close();
      db.close();
    }
  });
});
