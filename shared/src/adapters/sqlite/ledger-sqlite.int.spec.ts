import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LedgerConflictError } from '../../ports/ledger.ts';
import { ledgerContract } from '../../testing/ledger-contract.ts';
import { openSqliteDatabase } from './database.ts';
import { createSqliteLedger } from './ledger-sqlite.ts';

async function tempFile(): Promise<{ file: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-migrate-ledger-'));
  return { file: join(dir, 'ledger.db'), remove: () => rm(dir, { recursive: true, force: true }) };
}

ledgerContract('SQLite', async () => {
  const { file, remove } = await tempFile();
  const db = openSqliteDatabase(file);
  return {
    ledger: createSqliteLedger(db),
    cleanup: async () => {
      db.close();
      await remove();
    },
  };
});

describe('SQLite ledger', () => {
  it('two connections to one file see each other and conflict with each other', async () => {
    const { file, remove } = await tempFile();
    const [db1, db2] = [openSqliteDatabase(file), openSqliteDatabase(file)];
    try {
      const [one, two] = [createSqliteLedger(db1), createSqliteLedger(db2)];
      await one.append('m', 's', 0, [{ type: 'A', at: '2025-01-01T00:00:00Z', data: {} }]);
      expect(await two.listStreams('m')).toEqual([{ streamId: 's', version: 1 }]);
      await expect(
        two.append('m', 's', 0, [{ type: 'B', at: '2025-01-01T00:00:00Z', data: {} }]),
      ).rejects.toThrow(LedgerConflictError);
      expect(db1.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db1.close();
      db2.close();
      await remove();
    }
  });

  it('maps a unique-key collision on (migration, stream, seq) to a conflict', async () => {
    const { file, remove } = await tempFile();
    const db = openSqliteDatabase(file);
    try {
      const ledger = createSqliteLedger(db);
      await ledger.append('m', 's', 0, [{ type: 'A', at: '2025-01-01T00:00:00Z', data: {} }]);
      // A racing writer that slips its seq in between the version check and the insert: only the unique
      // key can stop the second seq 2.
      db.exec(`CREATE TEMP TRIGGER racer BEFORE INSERT ON ledger_events WHEN NEW.type = 'B'
               BEGIN
                 INSERT INTO ledger_events (migration_id, stream_id, seq, type, at, data)
                 VALUES (NEW.migration_id, NEW.stream_id, NEW.seq, 'Racer', NEW.at, '{}');
               END`);
      const conflict = ledger.append('m', 's', 1, [{ type: 'B', at: '2025-01-01T00:00:00Z', data: {} }]);
      await expect(conflict).rejects.toThrow(LedgerConflictError);
      db.exec('DROP TRIGGER racer');
      expect((await ledger.readStream('m', 's')).map((e) => e.type)).toEqual(['A']);
    } finally {
      db.close();
      await remove();
    }
  });

  it('refuses a negative or fractional expected version', async () => {
    const { file, remove } = await tempFile();
    const db = openSqliteDatabase(file);
    try {
      const ledger = createSqliteLedger(db);
      await expect(ledger.append('m', 's', -1, [])).rejects.toThrow(RangeError);
      await expect(ledger.append('m', 's', 0.5, [])).rejects.toThrow(RangeError);
    } finally {
      db.close();
      await remove();
    }
  });
});
