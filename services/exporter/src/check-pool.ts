/**
 * Worker threads that check NDJSON blocks (check-block.ts) off the main thread, so that a staging copy uses
 * a second core for the line checks while the main thread downloads, hashes and writes. Measured on 2
 * cores: 45–54 MB/s against 30–39 MB/s inline, for ~50 MB more peak RSS — hence one worker by default, which
 * keeps a copy under 256 MB. Workers start on first use, are held only while they have work (an idle pool
 * never keeps the process alive), and are replaced when one dies; a dead worker's tasks fail with the reason.
 */
import { Worker } from 'node:worker_threads';
import type { BlockTask, BlockVerdict } from './check-block.ts';

interface Pending {
  resolve: (verdict: BlockVerdict) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

export interface CheckPool {
  check(task: BlockTask): Promise<BlockVerdict>;
}

const workerUrl = new URL('./check-worker.mjs', import.meta.url);

export function createCheckPool(size = 1): CheckPool {
  const slots: (Slot | undefined)[] = new Array(size).fill(undefined);
  let nextId = 0;
  let turn = 0;

  function start(index: number): Slot {
    const worker = new Worker(workerUrl);
    const slot: Slot = { worker, pending: new Map() };
    worker.unref();
    worker.on('message', (msg: { id: number; verdict?: BlockVerdict; error?: string }) => {
      const task = slot.pending.get(msg.id);
      if (!task) return;
      slot.pending.delete(msg.id);
      if (slot.pending.size === 0) worker.unref();
      if (msg.verdict) {
        const rebuilt = msg.verdict.rebuilt;
        task.resolve(
          rebuilt
            ? { ...msg.verdict, rebuilt: Buffer.from(rebuilt.buffer, rebuilt.byteOffset, rebuilt.byteLength) }
            : msg.verdict,
        );
      } else task.reject(new Error(`line check failed: ${msg.error ?? 'unknown error'}`));
    });
    const fail = (reason: string) => {
      if (slots[index] === slot) slots[index] = undefined;
      for (const task of slot.pending.values()) task.reject(new Error(`line-check worker ${reason}`));
      slot.pending.clear();
    };
    worker.on('error', (err) => fail(`failed: ${err.message}`));
    worker.on('exit', (code) => fail(`exited with code ${code}`));
    slots[index] = slot;
    return slot;
  }

  return {
    check(task) {
      const index = turn++ % size;
      const slot = slots[index] ?? start(index);
      const id = nextId++;
      return new Promise<BlockVerdict>((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.worker.ref();
        // The block is copied to the worker: the main thread still stages it.
        slot.worker.postMessage({ id, task });
      });
    },
  };
}
