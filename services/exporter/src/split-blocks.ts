/**
 * Cuts a byte stream into blocks of whole lines — about `blockBytes` each, every block but the last ending
 * in `\n` — so that blocks can be checked apart from one another. Memory: one block plus one line.
 */
export interface SplitOptions {
  /** Target block size (default 1 MiB). */
  blockBytes?: number;
  /** A longer line throws (protects memory against a file without newlines). Default 256 MiB. */
  maxLineBytes?: number;
}

const LF = 0x0a;

export async function* splitBlocks(
  stream: AsyncIterable<Uint8Array | string>,
  options: SplitOptions = {},
): AsyncGenerator<Buffer> {
  const blockBytes = options.blockBytes ?? 1024 * 1024;
  const maxLineBytes = options.maxLineBytes ?? 256 * 1024 * 1024;
  let parts: Buffer[] = [];
  let size = 0;
  /** Bytes since the last LF among `parts`. */
  let openLine = 0;
  let lineCount = 0;
  for await (const chunk of stream) {
    const buf =
      typeof chunk === 'string'
        ? Buffer.from(chunk, 'utf8')
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (buf.length === 0) continue;
    parts.push(buf);
    size += buf.length;
    const lastLf = buf.lastIndexOf(LF);
    if (lastLf === -1) {
      openLine += buf.length;
      if (openLine > maxLineBytes)
        throw new Error(`NDJSON line ${lineCount + 1} is longer than ${maxLineBytes} bytes`);
      continue;
    }
    lineCount += countLf(buf);
    openLine = buf.length - lastLf - 1;
    if (size < blockBytes) continue;
    // Cut after the last newline: the open line's start goes on to the next block.
    const all = parts.length === 1 ? buf : Buffer.concat(parts, size);
    const cut = size - openLine;
    yield all.subarray(0, cut);
    parts = openLine > 0 ? [all.subarray(cut)] : [];
    size = openLine;
  }
  if (size > 0) yield parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size);
}

function countLf(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(LF); i !== -1; i = buf.indexOf(LF, i + 1)) n++;
  return n;
}
