/**
 * Reading reply bodies: headers flattened to lower-case strings, text decoded with the charset the server
 * declares (HAPI answers `$import-poll-status` with ISO-8859-1), and bounded excerpts of error bodies.
 */
import type { Readable } from 'node:stream';

export type RawHeaders = Record<string, string | string[] | undefined>;

/** Lower-case header names, repeated headers joined with ", ". */
export function flattenHeaders(headers: RawHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The charset parameter of a Content-Type, lower-cased; undefined when absent. */
export function charsetOf(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '');
  return match?.[1]?.toLowerCase();
}

/** Decodes bytes with the declared charset, UTF-8 when none is declared or the label is unknown. */
export function decodeBody(bytes: Uint8Array, contentType: string | undefined): string {
  const charset = charsetOf(contentType) ?? 'utf-8';
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

/** Reads a whole body (for small replies: JSON, OperationOutcomes, manifests). */
export async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

/** Destroys a body the caller will not read, without an unhandled 'error' from the aborted request. */
export function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/** Reads at most `limit` bytes of a body, then discards the rest of it. Never throws. */
export async function readExcerpt(body: Readable, limit = 64 * 1024): Promise<Buffer> {
  body.on('error', () => {});
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      chunks.push(buf);
      size += buf.length;
      if (size >= limit) break;
    }
  } catch {
    // A broken error body is not worth failing over: keep what arrived.
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, limit);
}
