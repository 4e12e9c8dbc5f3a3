/**
 * The ledger in the embedded SQLite file. One row per event; (migration_id, stream_id, seq) is unique, so a
 * second writer of the same seq collides even if the version check were bypassed. The version check and the
 * inserts share one IMMEDIATE transaction, and a global autoincrement position records the append order.
 */
import { z } from 'zod';
import type { Ledger, NewEvent, StoredEvent, StreamInfo } from '../../ports/ledger.ts';
import { LedgerConflictError } from '../../ports/ledger.ts';
import { fromJsonText, isUniqueViolation, type SqliteDatabase, toJsonText } from './database.ts';

const eventRow = z.object({
  stream_id: z.string(),
  seq: z.number().int(),
  type: z.string(),
  at: z.string(),
  data: z.string(),
});
const streamRow = z.object({ stream_id: z.string(), version: z.number().int() });
const versionRow = z.object({ version: z.number().int() });

/** The ledger over an open database; `close()` stops this adapter but leaves the database to its opener. */
export function createSqliteLedger(db: SqliteDatabase): Ledger {
  const versionOf = db.prepare(
    'SELECT coalesce(max(seq), 0) AS version FROM ledger_events WHERE migration_id = ? AND stream_id = ?',
  );
  const insert = db.prepare(
    'INSERT INTO ledger_events (migration_id, stream_id, seq, type, at, data) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const selectStream = db.prepare(
    `SELECT stream_id, seq, type, at, data FROM ledger_events
     WHERE migration_id = ? AND stream_id = ? AND seq >= ? ORDER BY seq`,
  );
  // substr rather than LIKE, so that '%' and '_' in a prefix are plain characters.
  const selectStreams = db.prepare(
    `SELECT stream_id, max(seq) AS version FROM ledger_events
     WHERE migration_id = ? AND stream_id >= ? AND substr(stream_id, 1, length(?)) = ?
     GROUP BY stream_id ORDER BY stream_id`,
  );
  const selectAll = db.prepare(
    'SELECT stream_id, seq, type, at, data FROM ledger_events WHERE migration_id = ? ORDER BY position',
  );

  const appendTx = db.transaction(
    (migrationId: string, streamId: string, expectedVersion: number, events: readonly NewEvent[]) => {
      const { version } = versionRow.parse(versionOf.get(migrationId, streamId));
      if (version !== expectedVersion) throw new LedgerConflictError(migrationId, streamId, expectedVersion);
      return events.map((event, index): StoredEvent => {
        const seq = expectedVersion + index + 1;
        const data = toJsonText(event.data, 'event data');
        insert.run(migrationId, streamId, seq, event.type, event.at, data);
        // What was stored, not the caller's object: the same value a later read returns.
        return {
          id: `${streamId}:${seq}`,
          migrationId,
          streamId,
          seq,
          type: event.type,
          at: event.at,
          data: fromJsonText(data),
        };
      });
    },
  );

  let closed = false;
  function ensureOpen(): void {
    if (closed) throw new Error('the SQLite ledger is closed');
  }

  function toStoredEvent(migrationId: string, raw: unknown): StoredEvent {
    const row = eventRow.parse(raw);
    return {
      id: `${row.stream_id}:${row.seq}`,
      migrationId,
      streamId: row.stream_id,
      seq: row.seq,
      type: row.type,
      at: row.at,
      data: fromJsonText(row.data),
    };
  }

  return {
    async append(migrationId, streamId, expectedVersion, events) {
      ensureOpen();
      if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
        throw new RangeError(`expected version must be a non-negative integer, got ${expectedVersion}`);
      }
      try {
        return appendTx.immediate(migrationId, streamId, expectedVersion, events);
      } catch (error) {
        if (isUniqueViolation(error)) throw new LedgerConflictError(migrationId, streamId, expectedVersion);
        throw error;
      }
    },

    async readStream(migrationId, streamId, fromSeq = 1) {
      ensureOpen();
      return selectStream.all(migrationId, streamId, fromSeq).map((row) => toStoredEvent(migrationId, row));
    },

    async listStreams(migrationId, prefix = '') {
      ensureOpen();
      return selectStreams.all(migrationId, prefix, prefix, prefix).map((raw): StreamInfo => {
        const row = streamRow.parse(raw);
        return { streamId: row.stream_id, version: row.version };
      });
    },

    async readAll(migrationId) {
      ensureOpen();
      return selectAll.all(migrationId).map((row) => toStoredEvent(migrationId, row));
    },

    async close() {
      closed = true;
    },
  };
}
