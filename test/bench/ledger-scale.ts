/**
 * npm run bench:ledger -- <state file of a finished run> [chunks ...]
 *
 * How the ledger grows and what reading it costs at a migration's real size: copies the chunk events of a
 * finished run (their real shapes and sizes) into fresh SQLite ledgers of N chunks each, and times what the
 * planner, the importer and the status API do on every event or poll — loadChunks: cold (a process's first
 * call reads and folds everything), warm (nothing moved) and after one chunk moved. Figures for
 * docs/scale.md; nothing here is asserted.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase } from '@fhir-migrate/shared/adapters/sqlite/database.ts';
import { createSqliteLedger } from '@fhir-migrate/shared/adapters/sqlite/ledger-sqlite.ts';
import { loadChunks } from '@fhir-migrate/shared/application/chunk-store.ts';
import type { StoredEvent } from '@fhir-migrate/shared/ports/ledger.ts';

const [stateFile, ...sizes] = process.argv.slice(2);
if (!stateFile) throw new Error('usage: npm run bench:ledger -- <state file of a finished run> [chunks ...]');
const counts = (sizes.length > 0 ? sizes : ['1000', '5000', '15600']).map(Number);

const source = openSqliteDatabase(stateFile);
const events = await createSqliteLedger(source).readAll('default');
source.close();
const chunkEvents = new Map<string, StoredEvent[]>();
for (const e of events) {
  if (!e.streamId.startsWith('chunk-')) continue;
  chunkEvents.set(e.streamId, [...(chunkEvents.get(e.streamId) ?? []), e]);
}
const templates = [...chunkEvents.values()].filter((list) => list.some((e) => e.type === 'ChunkVerified'));
if (templates.length === 0) throw new Error(`${stateFile} holds no verified chunk to copy`);
const migrationEvents = events.filter((e) => !e.streamId.startsWith('chunk-'));
const bytesPerChunk =
  templates.reduce((n, list) => n + list.reduce((m, e) => m + JSON.stringify(e.data).length + 64, 0), 0) /
  templates.length;
const eventsPerChunk = templates.reduce((n, list) => n + list.length, 0) / templates.length;
console.log(
  `template: ${templates.length} verified chunks, ${eventsPerChunk.toFixed(1)} events and ${(bytesPerChunk / 1024).toFixed(1)} KiB of event data per chunk`,
);

const dir = await mkdtemp(join(tmpdir(), 'fhir-migrate-ledger-scale-'));
try {
  for (const chunks of counts) {
    const file = join(dir, `ledger-${chunks}.sqlite`);
    const db = openSqliteDatabase(file);
    const ledger = createSqliteLedger(db);
    await ledger.append(
      'default',
      'migration',
      0,
      migrationEvents.map(({ type, at, data }) => ({ type, at, data })),
    );
    for (let i = 1; i <= chunks; i++) {
      const template = templates[(i - 1) % templates.length] as StoredEvent[];
      const chunkId = `chunk-${String(i).padStart(6, '0')}`;
      await ledger.append(
        'default',
        chunkId,
        0,
        template.map(({ type, at, data }) => ({
          type,
          at,
          data: type === 'ChunkPlanned' ? { ...(data as object), chunkId, index: i } : data,
        })),
      );
    }
    // Cold: a process's first read (the whole ledger). Warm: later reads, nothing moved. Moved: one chunk
    // got an event, as after every pipeline step.
    const timed = async (what: () => Promise<unknown>) => {
      const started = performance.now();
      await what();
      return performance.now() - started;
    };
    const cold: number[] = [];
    for (let r = 0; r < 3; r++)
      cold.push(
        await timed(async () => {
          const loaded = await loadChunks(createSqliteLedger(db), 'default');
          if (loaded.length !== chunks) throw new Error(`loaded ${loaded.length} chunks of ${chunks}`);
        }),
      );
    await loadChunks(ledger, 'default');
    const warm = await timed(() => loadChunks(ledger, 'default'));
    const last = templates[0]?.at(-1) as StoredEvent;
    await ledger.append('default', 'chunk-000001', (templates[0] as StoredEvent[]).length, [
      { type: last.type, at: last.at, data: last.data },
    ]);
    const moved = await timed(() => loadChunks(ledger, 'default'));
    db.close();
    const size = (await stat(file)).size;
    console.log(
      `${String(chunks).padStart(6)} chunks: ledger file ${(size / 1e6).toFixed(1)} MB; loadChunks cold ${Math.min(...cold).toFixed(0)} ms (best of 3), warm ${warm.toFixed(0)} ms, one chunk moved ${moved.toFixed(0)} ms`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
