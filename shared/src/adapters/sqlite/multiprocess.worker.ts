/**
 * A child process of multiprocess.int.spec.ts (run with `node --import tsx`): it shares one SQLite file with
 * its siblings, appends to shared ledger streams with conflict-retry, publishes the same messages as its
 * siblings and consumes them from one shared subscription, recording each handled id in the ledger. Its
 * argument is a JSON config; it answers 'ready', waits for any message back, and reports when done.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { Ledger, NewEvent } from '../../ports/ledger.ts';
import { LedgerConflictError } from '../../ports/ledger.ts';
import { createSqliteBus } from './bus-sqlite.ts';
import { openSqliteDatabase } from './database.ts';
import { createSqliteLedger } from './ledger-sqlite.ts';

const workerConfig = z.object({
  file: z.string(),
  worker: z.string(),
  migrationId: z.string(),
  streams: z.number().int().positive(),
  appends: z.number().int().positive(),
  messages: z.number().int().positive(),
  topic: z.string(),
  subscription: z.string(),
});
type WorkerConfig = z.infer<typeof workerConfig>;

interface WorkerReport {
  worker: string;
  conflicts: number;
  handled: number;
}

const processedStream = 'processed';
const counterStream = (index: number) => `counter/${index}`;

const jitter = () => sleep(Math.floor(Math.random() * 3));

/** Appends after re-reading the stream until no other writer gets in between; returns the conflicts met. */
async function appendWithRetry(ledger: Ledger, migrationId: string, streamId: string, event: NewEvent) {
  for (let conflicts = 0; ; conflicts += 1) {
    const version = (await ledger.readStream(migrationId, streamId)).at(-1)?.seq ?? 0;
    await jitter(); // widen the window between read and append, where a sibling may append first
    try {
      await ledger.append(migrationId, streamId, version, [event]);
      return conflicts;
    } catch (error) {
      if (!(error instanceof LedgerConflictError)) throw error;
    }
  }
}

async function waitForGo(): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send?.('ready');
  });
}

async function run(config: WorkerConfig): Promise<WorkerReport> {
  const db = openSqliteDatabase(config.file);
  const ledger = createSqliteLedger(db);
  const bus = createSqliteBus(db, { pollIntervalMs: 20 });
  let conflicts = 0;
  let handled = 0;
  try {
    await waitForGo();
    const subscription = bus.subscribe(
      config.topic,
      config.subscription,
      async (message) => {
        await jitter();
        const at = new Date().toISOString();
        const event = { type: 'MessageHandled', at, data: { messageId: message.id, worker: config.worker } };
        conflicts += await appendWithRetry(ledger, config.migrationId, processedStream, event);
        handled += 1;
      },
      { lockMs: 2000, concurrency: 2 },
    );
    const ids = Array.from({ length: config.messages }, (_, i) => `msg-${i}`);
    for (let i = 0; i < ids.length; i += 10) {
      // Every worker publishes every id: duplicate detection must leave one copy of each.
      await bus.publish(
        config.topic,
        ids.slice(i, i + 10).map((id) => ({ id, body: { id } })),
      );
      await jitter();
    }
    for (let i = 0; i < config.appends; i += 1) {
      const event = { type: 'Counted', at: new Date().toISOString(), data: { worker: config.worker, i } };
      conflicts += await appendWithRetry(
        ledger,
        config.migrationId,
        counterStream(i % config.streams),
        event,
      );
    }
    while ((await ledger.readStream(config.migrationId, processedStream)).length < config.messages) {
      await sleep(20);
    }
    await subscription.close();
    return { worker: config.worker, conflicts, handled };
  } finally {
    await bus.close();
    await ledger.close();
    db.close();
  }
}

const config = workerConfig.parse(JSON.parse(process.argv[2] ?? '{}'));
const report = await run(config);
process.send?.(report, () => process.disconnect());
