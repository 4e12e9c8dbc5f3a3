// Worker thread entry of the line-check pool (check-pool.ts). Plain JavaScript: it registers tsx itself,
// whatever way the main thread loaded TypeScript, then serves checkBlock.
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { checkBlock } = await import('./check-block.ts');

parentPort.on('message', ({ id, task }) => {
  try {
    const verdict = checkBlock(task);
    const rebuilt = verdict.rebuilt;
    // Hand the rebuilt bytes over without a copy, unless they share a pooled buffer with others.
    const own = rebuilt && rebuilt.byteOffset === 0 && rebuilt.byteLength === rebuilt.buffer.byteLength;
    parentPort.postMessage({ id, verdict }, own ? [rebuilt.buffer] : []);
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
