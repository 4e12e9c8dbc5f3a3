/**
 * The SQL side of the SQLite bus: publish with fan-out and duplicate detection, claim under a lock, renew,
 * complete, abandon, dead-letter and replay. Every multi-statement step runs in an IMMEDIATE transaction, and
 * every settlement names the lock token, so a receiver whose lock expired cannot settle another's delivery.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import type { DeadLetter, OutgoingMessage, ReceivedMessage } from '../../ports/bus.ts';
import { fromJsonText, type SqliteDatabase, toJsonText } from './database.ts';

export interface Claimed {
  seq: number;
  token: string;
  message: ReceivedMessage;
}

const messageRow = z.object({
  seq: z.number().int(),
  message_id: z.string(),
  body: z.string(),
  enqueued_at: z.number(),
  delivery_count: z.number().int(),
  properties: z.string().nullable(),
});
const removedRow = z.object({
  topic: z.string(),
  subscription: z.string(),
  message_id: z.string(),
  body: z.string(),
  enqueued_at: z.number(),
  delivery_count: z.number().int(),
  properties: z.string().nullable(),
});
const deadLetterRow = z.object({
  message_id: z.string(),
  body: z.string(),
  delivery_count: z.number().int(),
  reason: z.string(),
  dead_lettered_at: z.number(),
  properties: z.string().nullable(),
});
const replayRow = z.object({ body: z.string(), enqueued_at: z.number(), properties: z.string().nullable() });
const propertiesSchema = z.record(z.string(), z.string());

/** Application properties as stored: JSON text, or null when a message has none. */
function propertiesText(properties: OutgoingMessage['properties']): string | null {
  return properties && Object.keys(properties).length > 0
    ? toJsonText(properties, 'message properties')
    : null;
}

/** The `properties` field of a delivered message or dead letter (absent when there are none). */
function propertiesOf(text: string | null): { properties?: Record<string, string> } {
  return text === null ? {} : { properties: propertiesSchema.parse(fromJsonText(text)) };
}
const names = z.array(z.string());

const maxReasonLength = 1000;

/**
 * A lock token names the process holding it (`host/pid/uuid`), so that a restarted process on the same host
 * can release the locks of one that died (kill -9, OOM) at once instead of waiting for them to expire.
 */
const lockOwner = `${hostname()}/${process.pid}/`;

/** Whether the process named in a lock token is gone: same host and no such PID. Unknown shapes: alive. */
export function lockOwnerIsDead(token: string, host = hostname()): boolean {
  const match = /^(.+)\/(\d+)\/[0-9a-f-]{36}$/.exec(token);
  if (!match || match[1] !== host) return false;
  const pid = Number(match[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export type BusStore = ReturnType<typeof prepareBusStore>;

/** Which messages a receiver claims, and how: its subscription, lock duration and delivery limit. */
export interface ClaimSpec {
  topic: string;
  subscription: string;
  lockMs: number;
  maxDeliveries: number;
}

/** The bus's statements over one connection; `now` is epoch ms. Each method is one atomic step. */
export function prepareBusStore(db: SqliteDatabase, now: () => number, duplicateWindowMs: number) {
  const sql = {
    declare: db.prepare(
      'INSERT OR IGNORE INTO bus_subscriptions (topic, subscription, declared_at) VALUES (?, ?, ?)',
    ),
    subscriptionsOf: db.prepare('SELECT subscription FROM bus_subscriptions WHERE topic = ?').pluck(),
    forget: db.prepare('DELETE FROM bus_published WHERE topic = ? AND published_at < ?'),
    remember: db.prepare(
      'INSERT OR IGNORE INTO bus_published (topic, message_id, published_at) VALUES (?, ?, ?)',
    ),
    enqueue: db.prepare(
      `INSERT OR IGNORE INTO bus_messages
       (topic, subscription, message_id, body, enqueued_at, visible_at, properties)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    ready: db
      .prepare('SELECT 1 FROM bus_messages WHERE topic = ? AND subscription = ? AND visible_at <= ? LIMIT 1')
      .pluck(),
    candidates: db.prepare(
      `SELECT seq, message_id, body, enqueued_at, delivery_count, properties FROM bus_messages
       WHERE topic = ? AND subscription = ? AND visible_at <= ? ORDER BY seq LIMIT ?`,
    ),
    lock: db.prepare(
      'UPDATE bus_messages SET visible_at = ?, lock_token = ?, delivery_count = delivery_count + 1 WHERE seq = ?',
    ),
    renew: db.prepare('UPDATE bus_messages SET visible_at = ? WHERE seq = ? AND lock_token = ?'),
    complete: db.prepare('DELETE FROM bus_messages WHERE seq = ? AND lock_token = ?'),
    abandon: db.prepare(
      'UPDATE bus_messages SET visible_at = ?, lock_token = NULL WHERE seq = ? AND lock_token = ?',
    ),
    removeLocked: db.prepare(
      `DELETE FROM bus_messages WHERE seq = ? AND lock_token = ?
       RETURNING topic, subscription, message_id, body, enqueued_at, delivery_count, properties`,
    ),
    removeExpired: db.prepare(
      `DELETE FROM bus_messages WHERE seq = ?
       RETURNING topic, subscription, message_id, body, enqueued_at, delivery_count, properties`,
    ),
    addDeadLetter: db.prepare(
      `INSERT OR REPLACE INTO bus_dead_letters
       (topic, subscription, message_id, body, enqueued_at, delivery_count, reason, dead_lettered_at, properties)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    deadLetters: db.prepare(
      `SELECT message_id, body, delivery_count, reason, dead_lettered_at, properties FROM bus_dead_letters
       WHERE topic = ? AND subscription = ? ORDER BY seq`,
    ),
    lockedRows: db
      .prepare('SELECT seq, lock_token FROM bus_messages WHERE lock_token IS NOT NULL AND visible_at > ?')
      .raw(),
    release: db.prepare(
      'UPDATE bus_messages SET visible_at = ?, lock_token = NULL WHERE seq = ? AND lock_token = ?',
    ),
    takeDeadLetter: db.prepare(
      `DELETE FROM bus_dead_letters WHERE topic = ? AND subscription = ? AND message_id = ?
       RETURNING body, enqueued_at, properties`,
    ),
  };

  function moveToDeadLetters(removed: unknown, reason: string): void {
    if (removed === undefined) return; // the lock was lost: another receiver owns the message now
    const row = removedRow.parse(removed);
    const text = reason.length > maxReasonLength ? `${reason.slice(0, maxReasonLength)}…` : reason;
    sql.addDeadLetter.run(
      row.topic,
      row.subscription,
      row.message_id,
      row.body,
      row.enqueued_at,
      row.delivery_count,
      text,
      now(),
      row.properties,
    );
  }

  const publishTx = db.transaction((topic: string, messages: readonly OutgoingMessage[]) => {
    const at = now();
    sql.forget.run(topic, at - duplicateWindowMs);
    const subscriptions = names.parse(sql.subscriptionsOf.all(topic));
    for (const message of messages) {
      const body = toJsonText(message.body, 'message body');
      const properties = propertiesText(message.properties);
      const visibleAt = message.deliverAt?.getTime() ?? at;
      if (Number.isNaN(visibleAt)) throw new RangeError(`message ${message.id} has an invalid deliverAt`);
      if (sql.remember.run(topic, message.id, at).changes === 0) continue; // a duplicate id
      for (const subscription of subscriptions) {
        sql.enqueue.run(topic, subscription, message.id, body, at, visibleAt, properties);
      }
    }
  });

  const claimTx = db.transaction((settings: ClaimSpec, limit: number): Claimed[] => {
    const at = now();
    const rows = sql.candidates
      .all(settings.topic, settings.subscription, at, limit)
      .map((raw) => messageRow.parse(raw));
    const claimed: Claimed[] = [];
    for (const row of rows) {
      if (row.delivery_count >= settings.maxDeliveries) {
        const reason = `delivery limit of ${settings.maxDeliveries} reached: the lock of delivery ${row.delivery_count} expired before its handler finished`;
        moveToDeadLetters(sql.removeExpired.get(row.seq), reason);
        continue;
      }
      const token = `${lockOwner}${randomUUID()}`;
      sql.lock.run(at + settings.lockMs, token, row.seq);
      claimed.push({
        seq: row.seq,
        token,
        message: {
          id: row.message_id,
          topic: settings.topic,
          subscription: settings.subscription,
          body: fromJsonText(row.body),
          deliveryCount: row.delivery_count + 1,
          enqueuedAt: new Date(row.enqueued_at),
          ...propertiesOf(row.properties),
        },
      });
    }
    return claimed;
  });

  const deadLetterTx = db.transaction((seq: number, token: string, reason: string) => {
    moveToDeadLetters(sql.removeLocked.get(seq, token), reason);
  });

  const replayTx = db.transaction((topic: string, subscription: string, id: string) => {
    const taken = sql.takeDeadLetter.get(topic, subscription, id);
    if (taken === undefined) throw new Error(`no dead letter ${id} on ${topic}/${subscription}`);
    const row = replayRow.parse(taken);
    sql.enqueue.run(topic, subscription, id, row.body, row.enqueued_at, now(), row.properties);
  });

  return {
    declare(topic: string, subscription: string): void {
      sql.declare.run(topic, subscription, now());
    },
    publish(topic: string, messages: readonly OutgoingMessage[]): void {
      publishTx.immediate(topic, messages);
    },
    /** Claims up to `limit` visible messages; a cheap read first, so idle polls never take the write lock. */
    claim(settings: ClaimSpec, limit: number): Claimed[] {
      if (sql.ready.get(settings.topic, settings.subscription, now()) === undefined) return [];
      return claimTx.immediate(settings, limit);
    },
    /** False when the lock was lost (it expired and another receiver claimed the message). */
    renew(seq: number, token: string, lockMs: number): boolean {
      return sql.renew.run(now() + lockMs, seq, token).changes > 0;
    },
    complete(seq: number, token: string): void {
      sql.complete.run(seq, token);
    },
    abandon(seq: number, token: string, retryDelayMs: number): void {
      sql.abandon.run(now() + retryDelayMs, seq, token);
    },
    deadLetter(seq: number, token: string, reason: string): void {
      deadLetterTx.immediate(seq, token, reason);
    },
    deadLetters(topic: string, subscription: string): DeadLetter[] {
      return sql.deadLetters.all(topic, subscription).map((raw) => {
        const row = deadLetterRow.parse(raw);
        return {
          id: row.message_id,
          topic,
          subscription,
          body: fromJsonText(row.body),
          deliveryCount: row.delivery_count,
          reason: row.reason,
          deadLetteredAt: new Date(row.dead_lettered_at),
          ...propertiesOf(row.properties),
        };
      });
    },
    replay(topic: string, subscription: string, id: string): void {
      replayTx.immediate(topic, subscription, id);
    },
    /**
     * Makes the messages locked by dead processes visible again (their delivery still counts). Returns how
     * many were released. Locks of live or unknown owners are left to expire.
     */
    releaseOrphanedLocks(isDead: (token: string) => boolean = lockOwnerIsDead): number {
      const at = now();
      let released = 0;
      for (const [seq, token] of sql.lockedRows.all(at) as [number, string][]) {
        if (isDead(token)) released += sql.release.run(at, seq, token).changes;
      }
      return released;
    },
  };
}
