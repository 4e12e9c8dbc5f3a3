/**
 * The full reconciliation's spill file: one row per resource seen on either server (type, id, content hash,
 * source lastUpdated, pending), in a SQLite file of its own in the work folder, so two whole servers are
 * compared with joins on disk instead of in memory. The file is scratch: no journal, no fsync, and it is
 * deleted when closed.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Side } from './types.ts';

export interface ScratchRow {
  id: string;
  hash: Buffer;
  lastUpdated?: string;
  pending: boolean;
}

export interface TypeTally {
  source: number;
  destination: number;
  matching: number;
  missing: number;
  extra: number;
  differing: number;
  pending: number;
}

export type ListKind = 'missing' | 'extra' | 'differing' | 'pending';

export interface Scratch {
  readonly file: string;
  /** Adds one page of rows in one transaction; a row seen twice (a page boundary that moved) is kept once. */
  add(side: Side, type: string, rows: readonly ScratchRow[]): void;
  tally(type: string): TypeTally;
  /** Ids of `kind` for `type`, sorted, at most `limit`. */
  list(kind: ListKind, type: string, limit: number): string[];
  /** Closes and deletes the file (safe to call twice). */
  close(): void;
}

const sideCode = (side: Side) => (side === 'source' ? 0 : 1);

const schema = `
CREATE TABLE seen (
  type         TEXT    NOT NULL,
  side         INTEGER NOT NULL,
  id           TEXT    NOT NULL,
  hash         BLOB    NOT NULL,
  last_updated TEXT,
  pending      INTEGER NOT NULL,
  PRIMARY KEY (type, side, id)
) WITHOUT ROWID;
`;

// s = a source row, d = the destination row with the same type and id (if any).
const tallySql = `
SELECT count(*)                                                       AS source,
       coalesce(sum(s.pending), 0)                                    AS pending,
       coalesce(sum(s.pending = 0 AND d.id IS NULL), 0)               AS missing,
       coalesce(sum(s.pending = 0 AND d.hash IS NOT NULL AND d.hash <> s.hash), 0) AS differing,
       coalesce(sum(s.pending = 0 AND d.hash = s.hash), 0)            AS matching
FROM seen s LEFT JOIN seen d ON d.type = s.type AND d.side = 1 AND d.id = s.id
WHERE s.type = ? AND s.side = 0`;

const destinationSql = `
SELECT count(*) AS destination,
       coalesce(sum(NOT EXISTS (SELECT 1 FROM seen s WHERE s.type = d.type AND s.side = 0 AND s.id = d.id)), 0) AS extra
FROM seen d WHERE d.type = ? AND d.side = 1`;

const listSql: Record<ListKind, string> = {
  missing: `SELECT s.id FROM seen s WHERE s.type = ? AND s.side = 0 AND s.pending = 0
            AND NOT EXISTS (SELECT 1 FROM seen d WHERE d.type = s.type AND d.side = 1 AND d.id = s.id)
            ORDER BY s.id LIMIT ?`,
  differing: `SELECT s.id FROM seen s JOIN seen d ON d.type = s.type AND d.side = 1 AND d.id = s.id
              WHERE s.type = ? AND s.side = 0 AND s.pending = 0 AND d.hash <> s.hash
              ORDER BY s.id LIMIT ?`,
  extra: `SELECT d.id FROM seen d WHERE d.type = ? AND d.side = 1
          AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.type = d.type AND s.side = 0 AND s.id = d.id)
          ORDER BY d.id LIMIT ?`,
  pending: `SELECT s.id FROM seen s WHERE s.type = ? AND s.side = 0 AND s.pending = 1 ORDER BY s.id LIMIT ?`,
};

export function openScratch(workDir: string): Scratch {
  mkdirSync(workDir, { recursive: true });
  const file = join(workDir, `reconcile-${randomUUID()}.sqlite`);
  const db = new Database(file);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      db.close();
    } finally {
      for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    }
  };
  try {
    // Scratch data: a crash loses nothing worth keeping, so skip the journal and fsync.
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('temp_store = FILE');
    db.exec(schema);
  } catch (error) {
    close();
    throw error;
  }
  const insert = db.prepare(
    'INSERT OR REPLACE INTO seen (type, side, id, hash, last_updated, pending) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const addPage = db.transaction((side: number, type: string, rows: readonly ScratchRow[]) => {
    for (const r of rows) insert.run(type, side, r.id, r.hash, r.lastUpdated ?? null, r.pending ? 1 : 0);
  });
  const tally = db.prepare<[string], Record<string, unknown>>(tallySql);
  const destination = db.prepare<[string], Record<string, unknown>>(destinationSql);
  const lists = Object.fromEntries(
    Object.entries(listSql).map(([kind, sql]) => [kind, db.prepare<[string, number], { id: unknown }>(sql)]),
  );

  return {
    file,
    add(side, type, rows) {
      addPage(sideCode(side), type, rows);
    },
    tally(type) {
      const s = tally.get(type) ?? {};
      const d = destination.get(type) ?? {};
      return {
        source: int(s.source),
        destination: int(d.destination),
        matching: int(s.matching),
        missing: int(s.missing),
        extra: int(d.extra),
        differing: int(s.differing),
        pending: int(s.pending),
      };
    },
    list(kind, type, limit) {
      const statement = lists[kind];
      if (!statement || limit <= 0) return [];
      return statement.all(type, limit).flatMap((r) => (typeof r.id === 'string' ? [r.id] : []));
    },
    close,
  };
}

function int(value: unknown): number {
  return typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : 0;
}
