/**
 * Checks a block of whole NDJSON lines (see split-blocks.ts) in one call, so that the work can run on a
 * worker thread: the line check is the staging copy's main cost, and the download, the hash and the write
 * stay on the main thread. Pure; shared by the worker and the tests.
 */
import {
  createResourceLineChecker,
  type LineCheckOptions,
  type LineFailureReason,
  lineContent,
} from '@fhir-migrate/shared/adapters/fhir-http/ndjson.ts';

export interface BlockRejection {
  /** 1-based line number within the block. */
  line: number;
  reason: LineFailureReason;
  id?: string;
}

export interface BlockVerdict {
  /** Lines in the block (a final remainder without a newline counts; the empty tail after the last one does not). */
  lines: number;
  outOfWindow: number;
  rejected: BlockRejection[];
  /**
   * The accepted lines, each ending in `\n`, when that differs from the block as it came: a line was
   * refused, a `\r\n` or the file's BOM was dropped, or the last line had no newline. Absent: stage the
   * block's bytes unchanged.
   */
  rebuilt?: Uint8Array;
}

const LF = 0x0a;

export interface BlockTask {
  block: Uint8Array;
  options: LineCheckOptions;
  /** The block starts the file (a UTF-8 BOM on its first line is dropped). */
  first: boolean;
}

export function checkBlock(task: BlockTask): BlockVerdict {
  const block = Buffer.from(task.block.buffer, task.block.byteOffset, task.block.byteLength);
  const check = createResourceLineChecker(task.options);
  const rejected: BlockRejection[] = [];
  const kept: Buffer[] = [];
  let changed = false;
  let lines = 0;
  let outOfWindow = 0;
  let start = 0;
  while (start < block.length) {
    let end = block.indexOf(LF, start);
    const next = end === -1 ? block.length : end + 1;
    if (end === -1) {
      end = block.length;
      changed = true; // the last line gets its newline
    }
    const bytes = lineContent(block.subarray(start, end), lines === 0 && task.first);
    if (bytes.length !== end - start) changed = true;
    lines++;
    const result = check(bytes);
    if (result.ok) {
      if (!result.inWindow) outOfWindow++;
      kept.push(bytes);
    } else {
      changed = true;
      rejected.push({ line: lines, reason: result.reason, ...(result.id ? { id: result.id } : {}) });
    }
    start = next;
  }
  if (!changed) return { lines, outOfWindow, rejected };
  const newline = Buffer.from([LF]);
  return {
    lines,
    outOfWindow,
    rejected,
    rebuilt: Buffer.concat(kept.flatMap((b) => [b, newline])),
  };
}
