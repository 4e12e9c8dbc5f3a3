/**
 * One SQLite file holds the ledger and the bus of an embedded installation. Several processes on one machine
 * may open the same file: WAL lets readers run beside the single writer, the busy timeout makes a writer wait
 * for the write lock instead of failing, and every multi-statement write runs in an IMMEDIATE transaction
 * (it takes the write lock before reading, so a read-then-write decision cannot be overtaken).
 */
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

export interface OpenSqliteOptions {
  /** How long a writer waits for another connection's write lock before failing with SQLITE_BUSY (default 5000). */
  busyTimeoutMs?: number;
}

const schema = `
CREATE TABLE IF NOT EXISTS ledger_events (
  position     INTEGER PRIMARY KEY AUTOINCREMENT,
  migration_id TEXT    NOT NULL,
  stream_id    TEXT    NOT NULL,
  seq          INTEGER NOT NULL CHECK (seq >= 1),
  type         TEXT    NOT NULL,
  at           TEXT    NOT NULL,
  data         TEXT    NOT NULL,
  UNIQUE (migration_id, stream_id, seq)
);
CREATE INDEX IF NOT EXISTS ledger_events_by_migration ON ledger_events (migration_id, position);

CREATE TABLE IF NOT EXISTS bus_subscriptions (
  topic        TEXT    NOT NULL,
  subscription TEXT    NOT NULL,
  declared_at  INTEGER NOT NULL,
  PRIMARY KEY (topic, subscription)
);

CREATE TABLE IF NOT EXISTS bus_published (
  topic        TEXT    NOT NULL,
  message_id   TEXT    NOT NULL,
  published_at INTEGER NOT NULL,
  PRIMARY KEY (topic, message_id)
);
CREATE INDEX IF NOT EXISTS bus_published_by_age ON bus_published (topic, published_at);

CREATE TABLE IF NOT EXISTS bus_messages (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  topic          TEXT    NOT NULL,
  subscription   TEXT    NOT NULL,
  message_id     TEXT    NOT NULL,
  body           TEXT    NOT NULL,
  enqueued_at    INTEGER NOT NULL,
  visible_at     INTEGER NOT NULL,
  lock_token     TEXT,
  delivery_count INTEGER NOT NULL DEFAULT 0,
  properties     TEXT,
  UNIQUE (topic, subscription, message_id),
  FOREIGN KEY (topic, subscription) REFERENCES bus_subscriptions (topic, subscription) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS bus_messages_ready ON bus_messages (topic, subscription, visible_at);

CREATE TABLE IF NOT EXISTS bus_dead_letters (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  topic            TEXT    NOT NULL,
  subscription     TEXT    NOT NULL,
  message_id       TEXT    NOT NULL,
  body             TEXT    NOT NULL,
  enqueued_at      INTEGER NOT NULL,
  delivery_count   INTEGER NOT NULL,
  reason           TEXT    NOT NULL,
  dead_lettered_at INTEGER NOT NULL,
  properties       TEXT,
  UNIQUE (topic, subscription, message_id)
);
`;

/** Opens (creating if needed) the database file and its schema. The caller closes it with `db.close()`. */
export function openSqliteDatabase(file: string, options: OpenSqliteOptions = {}): SqliteDatabase {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const db = new Database(file, { timeout: busyTimeoutMs });
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.transaction(() => {
      db.exec(schema);
      addMissingColumns(db);
    }).immediate();
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Columns added after the first release: files written before them gain them on open. */
const addedColumns = [
  { table: 'bus_messages', column: 'properties', type: 'TEXT' },
  { table: 'bus_dead_letters', column: 'properties', type: 'TEXT' },
] as const;

function addMissingColumns(db: SqliteDatabase): void {
  for (const { table, column, type } of addedColumns) {
    const columns = db.prepare(`SELECT name FROM pragma_table_info('${table}')`).pluck().all();
    if (!columns.includes(column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  }
}

/** True when a write failed on a PRIMARY KEY or UNIQUE constraint. */
export function isUniqueViolation(error: unknown): boolean {
  return (
    error instanceof Database.SqliteError &&
    (error.code === 'SQLITE_CONSTRAINT_UNIQUE' || error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
  );
}

/** Serialises a value for a TEXT column; `undefined` is stored as `null`, anything JSON cannot hold is refused. */
export function toJsonText(value: unknown, what: string): string {
  const text = JSON.stringify(value ?? null);
  if (typeof text !== 'string') throw new TypeError(`${what} is not JSON-serialisable`);
  return text;
}

export function fromJsonText(text: string): unknown {
  const value: unknown = JSON.parse(text);
  return value;
}
