/**
 * NDJSON reading and per-line checks. Lines are yielded as the exact text of the file (never re-serialised:
 * FHIR decimals such as 37.0000000000000000000 do not survive JSON.parse + JSON.stringify), one at a time,
 * so a file of any size is read in constant memory (bounded by its longest line).
 */
import { isUtf8 } from 'node:buffer';
import { compareInstants, type ParsedInstant, parseInstant, requireInstant } from './instant.ts';
import { scanResourceFields } from './json-scan.ts';

export interface NdjsonLine {
  /** 1-based line number. */
  line: number;
  /** The line's text without its line ending (and without a UTF-8 BOM on line 1). */
  text: string;
  /** Set when the line's bytes are not valid UTF-8 (`text` then holds U+FFFD replacement characters). */
  invalidUtf8?: true;
}

export interface ReadNdjsonOptions {
  /** A longer line throws (protects memory against a file without newlines). Default 256 MiB. */
  maxLineBytes?: number;
}

const LF = 0x0a;
const CR = 0x0d;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenientUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

export interface NdjsonLineBytes {
  /** 1-based line number. */
  line: number;
  /** The line's bytes without its line ending (and without a UTF-8 BOM on line 1). */
  bytes: Buffer;
}

/**
 * A line's content without its line ending: a trailing `\r` (of `\r\n`) is dropped, and on the file's first
 * line a UTF-8 BOM. The same bytes when there is neither.
 */
export function lineContent(bytes: Buffer, firstOfFile: boolean): Buffer {
  let out = bytes;
  if (out.length > 0 && out[out.length - 1] === CR) out = out.subarray(0, out.length - 1);
  if (firstOfFile && out[0] === 0xef && out[1] === 0xbb && out[2] === 0xbf) out = out.subarray(3);
  return out;
}

/**
 * Yields the lines of an NDJSON byte stream as bytes. Handles `\n` and `\r\n`, a last line without a
 * newline, and multi-byte characters split across chunks (lines are split on the LF byte, which never
 * occurs inside a UTF-8 sequence). A blank line in the middle is yielded (so a checker can flag it); the
 * empty remainder after a final newline is not a line.
 */
export async function* readNdjsonLineBytes(
  stream: AsyncIterable<Uint8Array | string>,
  options: ReadNdjsonOptions = {},
): AsyncGenerator<NdjsonLineBytes> {
  const maxLineBytes = options.maxLineBytes ?? 256 * 1024 * 1024;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 0;

  const take = (tail: Buffer): NdjsonLineBytes => {
    const bytes = pending.length === 0 ? tail : Buffer.concat([...pending, tail]);
    pending = [];
    pendingBytes = 0;
    line++;
    return { line, bytes: lineContent(bytes, line === 1) };
  };

  for await (const chunk of stream) {
    const buf =
      typeof chunk === 'string'
        ? Buffer.from(chunk, 'utf8')
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let lf = buf.indexOf(LF, start); lf !== -1; lf = buf.indexOf(LF, start)) {
      yield take(buf.subarray(start, lf));
      start = lf + 1;
    }
    if (start < buf.length) {
      pending.push(buf.subarray(start));
      pendingBytes += buf.length - start;
      if (pendingBytes > maxLineBytes) {
        throw new Error(`NDJSON line ${line + 1} is longer than ${maxLineBytes} bytes`);
      }
    }
  }
  if (pendingBytes > 0) yield take(Buffer.alloc(0));
}

/** The lines of an NDJSON byte stream as text (see readNdjsonLineBytes); invalid UTF-8 is flagged, not fatal. */
export async function* readNdjsonLines(
  stream: AsyncIterable<Uint8Array | string>,
  options: ReadNdjsonOptions = {},
): AsyncGenerator<NdjsonLine> {
  for await (const { line, bytes } of readNdjsonLineBytes(stream, options)) {
    try {
      yield { line, text: strictUtf8.decode(bytes) };
    } catch {
      yield { line, text: lenientUtf8.decode(bytes), invalidUtf8: true };
    }
  }
}

export type LineFailureReason =
  | 'invalid-json'
  | 'not-an-object'
  | 'wrong-type'
  | 'missing-id'
  | 'missing-lastUpdated';

export type LineCheck =
  | { ok: true; resourceType: string; id: string; lastUpdated: string; inWindow: boolean }
  | { ok: false; reason: LineFailureReason; detail: string; resourceType?: string; id?: string };

export interface LineCheckOptions {
  /** The resource type the file is declared to hold; any type is accepted when omitted. */
  expectedType?: string;
  /** Inclusive lower bound of `meta.lastUpdated`; unbounded when omitted. */
  since?: string;
  /** Exclusive upper bound of `meta.lastUpdated`; unbounded when omitted. */
  till?: string;
}

const fhirId = /^[A-Za-z0-9\-.]{1,64}$/;

interface PreparedCheck {
  expectedType?: string;
  since?: ParsedInstant;
  till?: ParsedInstant;
}

function prepare(options: LineCheckOptions): PreparedCheck {
  return {
    ...(options.expectedType !== undefined ? { expectedType: options.expectedType } : {}),
    ...(options.since !== undefined ? { since: requireInstant(options.since, 'since') } : {}),
    ...(options.till !== undefined ? { till: requireInstant(options.till, 'till') } : {}),
  };
}

/**
 * Checks one NDJSON line holding a FHIR resource: JSON object, declared type, a valid id and a valid
 * `meta.lastUpdated`, and whether that instant lies in the half-open window [since, till). Pure; details
 * name types, ids and positions only, never resource content. An id that is present but not a valid FHIR id
 * (it would be unsafe in a `Type/id` URL) is reported as `missing-id`; an unparsable lastUpdated as
 * `missing-lastUpdated`.
 */
export function checkResourceLine(text: string, options: LineCheckOptions = {}): LineCheck {
  return checkText(text, prepare(options));
}

/**
 * The same check on a line's bytes, for a whole file at a time: the bounds are parsed once, and a line is
 * scanned without building it (json-scan.ts), falling back to JSON.parse only where the scan cannot settle
 * it. Bytes that are not UTF-8 are refused as invalid JSON (RFC 8259 requires UTF-8).
 */
export function createResourceLineChecker(options: LineCheckOptions = {}): (bytes: Buffer) => LineCheck {
  const prepared = prepare(options);
  return (bytes) => {
    if (!isUtf8(bytes)) return { ok: false, reason: 'invalid-json', detail: 'not valid UTF-8' };
    const fields = scanResourceFields(bytes);
    if (fields?.resourceType !== undefined && fields.id !== undefined && fields.lastUpdated !== undefined)
      return checkValues(fields.resourceType, fields.id, fields.lastUpdated, prepared);
    return checkText(bytes.toString('utf8'), prepared);
  };
}

function checkText(text: string, p: PreparedCheck): LineCheck {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const position = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
    const detail =
      text.trim() === '' ? 'blank line' : `not valid JSON${position ? ` (at position ${position})` : ''}`;
    return { ok: false, reason: 'invalid-json', detail };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {
      ok: false,
      reason: 'not-an-object',
      detail: `a JSON ${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value}, not an object`,
    };
  }
  const meta = 'meta' in value ? value.meta : undefined;
  return checkValues(
    'resourceType' in value ? value.resourceType : undefined,
    'id' in value ? value.id : undefined,
    typeof meta === 'object' && meta !== null && 'lastUpdated' in meta ? meta.lastUpdated : undefined,
    p,
  );
}

function checkValues(resourceType: unknown, id: unknown, lastUpdated: unknown, p: PreparedCheck): LineCheck {
  if (typeof resourceType !== 'string' || resourceType === '') {
    return { ok: false, reason: 'wrong-type', detail: 'resourceType is missing' };
  }
  if (p.expectedType !== undefined && resourceType !== p.expectedType) {
    return {
      ok: false,
      reason: 'wrong-type',
      detail: `expected ${p.expectedType}, found ${safeName(resourceType)}`,
      resourceType,
    };
  }
  if (typeof id !== 'string' || id === '') {
    return { ok: false, reason: 'missing-id', detail: 'id is missing', resourceType };
  }
  if (!fhirId.test(id)) {
    return { ok: false, reason: 'missing-id', detail: 'id is not a valid FHIR id', resourceType };
  }
  if (typeof lastUpdated !== 'string') {
    return {
      ok: false,
      reason: 'missing-lastUpdated',
      detail: 'meta.lastUpdated is missing',
      resourceType,
      id,
    };
  }
  const instant = parseInstant(lastUpdated);
  if (!instant) {
    return {
      ok: false,
      reason: 'missing-lastUpdated',
      detail: 'meta.lastUpdated is not a valid instant',
      resourceType,
      id,
    };
  }
  return { ok: true, resourceType, id, lastUpdated, inWindow: inWindow(instant, p.since, p.till) };
}

function inWindow(
  at: ParsedInstant,
  since: ParsedInstant | undefined,
  till: ParsedInstant | undefined,
): boolean {
  return (
    (since === undefined || compareInstants(since, at) <= 0) &&
    (till === undefined || compareInstants(at, till) < 0)
  );
}

/** A resource type as found in a file, shortened and restricted so that it cannot smuggle content into logs. */
function safeName(name: string): string {
  return /^[A-Za-z]{1,64}$/.test(name) ? name : '(not a resource type name)';
}
