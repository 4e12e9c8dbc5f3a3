import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createSqliteBus } from './bus-sqlite.ts';
import { openSqliteDatabase } from './database.ts';
import { createSqliteLedger } from './ledger-sqlite.ts';

const workerFile = fileURLToPath(new URL('./multiprocess.worker.ts', import.meta.url));
const report = z.object({ worker: z.string(), conflicts: z.number().int(), handled: z.number().int() });
const counted = z.object({ worker: z.string(), i: z.number().int() });
const handled = z.object({ messageId: z.string(), worker: z.string() });

const workers = ['w1', 'w2', 'w3'];
const shape = {
  migrationId: 'mp',
  streams: 3,
  appends: 30,
  messages: 60,
  topic: 'work',
  subscription: 'workers',
};

interface Child {
  process: ChildProcess;
  ready: Promise<void>;
  done: Promise<z.infer<typeof report>>;
}

function startWorker(file: string, worker: string): Child {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', workerFile, JSON.stringify({ ...shape, file, worker })],
    {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const ready = new Promise<void>((resolve) => child.once('message', () => resolve()));
  const done = new Promise<z.infer<typeof report>>((resolve, reject) => {
    let last: unknown;
    child.on('message', (message) => {
      last = message;
    });
    child.once('exit', (code) => {
      if (code === 0) resolve(report.parse(last));
      else reject(new Error(`worker ${worker} exited with ${code}: ${stderr.slice(-2000)}`));
    });
  });
  return { process: child, ready, done };
}

describe('SQLite ledger and bus shared by several processes', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('loses and duplicates no event seq, and completes each message exactly once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fhir-migrate-mp-'));
    const file = join(dir, 'shared.db');
    const db = openSqliteDatabase(file);
    const children: Child[] = [];
    cleanups.push(async () => {
      for (const child of children) if (child.process.exitCode === null) child.process.kill();
      db.close();
      await rm(dir, { recursive: true, force: true });
    });
    const bus = createSqliteBus(db);
    await bus.declare(shape.topic, shape.subscription);
    await bus.close();

    children.push(...workers.map((worker) => startWorker(file, worker)));
    await Promise.all(children.map((child) => child.ready));
    for (const child of children) child.process.send('go');
    const reports = await Promise.all(children.map((child) => child.done));

    const ledger = createSqliteLedger(db);
    // Every append of every worker landed once, and each stream is numbered 1..n without gaps.
    const appended: string[] = [];
    for (let s = 0; s < shape.streams; s += 1) {
      const events = await ledger.readStream(shape.migrationId, `counter/${s}`);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      for (const e of events) {
        const { worker, i } = counted.parse(e.data);
        expect(i % shape.streams).toBe(s);
        appended.push(`${worker}/${i}`);
      }
    }
    const expected = workers.flatMap((w) => Array.from({ length: shape.appends }, (_, i) => `${w}/${i}`));
    expect(appended.sort()).toEqual(expected.sort());

    // Each message id was handled exactly once, across all workers; nothing is left or dead-lettered.
    const processed = (await ledger.readStream(shape.migrationId, 'processed')).map((e) =>
      handled.parse(e.data),
    );
    expect(processed.map((p) => p.messageId).sort()).toEqual(
      Array.from({ length: shape.messages }, (_, i) => `msg-${i}`).sort(),
    );
    expect(reports.reduce((sum, r) => sum + r.handled, 0)).toBe(shape.messages);
    expect(new Set(processed.map((p) => p.worker)).size).toBeGreaterThan(1);
    expect(db.prepare('SELECT count(*) FROM bus_messages').pluck().get()).toBe(0);
    expect(db.prepare('SELECT count(*) FROM bus_dead_letters').pluck().get()).toBe(0);
    // The workers really did race: some appends had to be retried.
    expect(reports.reduce((sum, r) => sum + r.conflicts, 0)).toBeGreaterThan(0);
  });
});
