import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { checkResourceLine, type NdjsonLine, readNdjsonLines } from './ndjson.ts';

async function collect(chunks: (string | Buffer)[]): Promise<NdjsonLine[]> {
  const lines: NdjsonLine[] = [];
  const buffers = chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c));
  for await (const line of readNdjsonLines(Readable.from(buffers))) lines.push(line);
  return lines;
}

const texts = (lines: NdjsonLine[]) => lines.map((l) => l.text);

describe('readNdjsonLines', () => {
  it('splits on \\n and \\r\\n, numbers lines from 1 and keeps a last line without newline', async () => {
    const lines = await collect(['{"a":1}\r\n{"b":2}\n{"c"', ':3}']);
    expect(lines).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":2}' },
      { line: 3, text: '{"c":3}' },
    ]);
  });

  it('yields blank lines in the middle but not the empty remainder after the final newline', async () => {
    expect(texts(await collect(['a\n\nb\n']))).toEqual(['a', '', 'b']);
    expect(texts(await collect(['a\n', '\n']))).toEqual(['a', '']);
    expect(texts(await collect(['a\r\n']))).toEqual(['a']);
    expect(await collect([])).toEqual([]);
    expect(await collect([''])).toEqual([]);
  });

  it('handles a \\r\\n split between chunks', async () => {
    expect(texts(await collect(['x\r', '\ny\r', '\n']))).toEqual(['x', 'y']);
  });

  it('reassembles multi-byte UTF-8 characters split across chunks', async () => {
    const text = '{"name":"Zoë 𝄞 東京"}';
    const bytes = Buffer.from(`${text}\n${text}`, 'utf8');
    // One byte per chunk splits every multi-byte sequence.
    const oneByteChunks = [...bytes].map((b) => Buffer.from([b]));
    expect(texts(await collect(oneByteChunks))).toEqual([text, text]);
  });

  it('passes the text through byte for byte (21-digit decimals with trailing zeros)', async () => {
    const line = '{"resourceType":"Observation","id":"o1","valueQuantity":{"value":37.0000000000000000000}}';
    const [got] = await collect([`${line}\n`]);
    expect(got?.text).toBe(line);
    expect(Buffer.from(got?.text ?? '', 'utf8').equals(Buffer.from(line, 'utf8'))).toBe(true);
  });

  it('strips a UTF-8 BOM on the first line only', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    expect(texts(await collect([Buffer.concat([bom, Buffer.from('{}\n')]), '\ufeffx']))).toEqual([
      '{}',
      '\ufeffx',
    ]);
  });

  it('flags lines that are not valid UTF-8', async () => {
    const lines = await collect([Buffer.from([0x7b, 0xff, 0x7d, 0x0a]), 'ok\n']);
    expect(lines[0]?.invalidUtf8).toBe(true);
    expect(lines[1]).toEqual({ line: 2, text: 'ok' });
  });

  it('yields a line as soon as it is complete, before the stream ends', async () => {
    const stream = new PassThrough();
    const iterator = readNdjsonLines(stream)[Symbol.asyncIterator]();
    stream.write('first\nsec');
    expect((await iterator.next()).value).toEqual({ line: 1, text: 'first' });
    stream.end('ond\n');
    expect((await iterator.next()).value).toEqual({ line: 2, text: 'second' });
    expect((await iterator.next()).done).toBe(true);
  });

  it('refuses a line longer than maxLineBytes', async () => {
    const run = async () => {
      for await (const _ of readNdjsonLines(
        Readable.from([Buffer.from('x'.repeat(50)), Buffer.from('y'.repeat(60))]),
        {
          maxLineBytes: 100,
        },
      )) {
        // drain
      }
    };
    await expect(run()).rejects.toThrow(/line 1 is longer than 100 bytes/);
  });
});

describe('checkResourceLine', () => {
  const window = { expectedType: 'Patient', since: '2026-01-01T00:00:00Z', till: '2026-02-01T00:00:00Z' };
  const patient = (lastUpdated: string, extra = '') =>
    `{"resourceType":"Patient","id":"p-1","meta":{"versionId":"3","lastUpdated":"${lastUpdated}"}${extra}}`;

  it('reads type, id and lastUpdated and places lastUpdated in the half-open window', () => {
    expect(checkResourceLine(patient('2026-01-15T10:00:00.123+00:00'), window)).toEqual({
      ok: true,
      resourceType: 'Patient',
      id: 'p-1',
      lastUpdated: '2026-01-15T10:00:00.123+00:00',
      inWindow: true,
    });
  });

  it.each([
    ['exactly since (inclusive)', '2026-01-01T00:00:00.000+00:00', true],
    ['since written with another offset', '2026-01-01T01:00:00+01:00', true],
    ['just before since', '2025-12-31T23:59:59.999Z', false],
    ['exactly till (exclusive)', '2026-02-01T00:00:00.000000Z', false],
    ['till written with another offset', '2026-01-31T19:00:00-05:00', false],
    ['a microsecond before till', '2026-01-31T23:59:59.999999Z', true],
  ])('%s → inWindow %s', (_what, lastUpdated, expected) => {
    const check = checkResourceLine(patient(lastUpdated), window);
    expect(check.ok && check.inWindow).toBe(expected);
  });

  it('treats a missing since as unbounded below', () => {
    const check = checkResourceLine(patient('1999-01-01T00:00:00Z'), { till: window.till });
    expect(check).toMatchObject({ ok: true, inWindow: true });
  });

  it.each([
    ['{"resourceType":"Patient","name":[{"family":"Secretname"}]', 'invalid-json'],
    ['', 'invalid-json'],
    ['[1,2]', 'not-an-object'],
    ['null', 'not-an-object'],
    ['"Patient"', 'not-an-object'],
    ['{"id":"x","meta":{"lastUpdated":"2026-01-02T00:00:00Z"}}', 'wrong-type'],
    ['{"resourceType":"Observation","id":"x","meta":{"lastUpdated":"2026-01-02T00:00:00Z"}}', 'wrong-type'],
    ['{"resourceType":"Patient","meta":{"lastUpdated":"2026-01-02T00:00:00Z"}}', 'missing-id'],
    ['{"resourceType":"Patient","id":"a/b","meta":{"lastUpdated":"2026-01-02T00:00:00Z"}}', 'missing-id'],
    ['{"resourceType":"Patient","id":42,"meta":{"lastUpdated":"2026-01-02T00:00:00Z"}}', 'missing-id'],
    ['{"resourceType":"Patient","id":"x"}', 'missing-lastUpdated'],
    ['{"resourceType":"Patient","id":"x","meta":{"lastUpdated":"yesterday"}}', 'missing-lastUpdated'],
  ])('%s → %s', (text, reason) => {
    const check = checkResourceLine(text, window);
    expect(check).toMatchObject({ ok: false, reason });
  });

  it('never copies resource content into the detail', () => {
    const check = checkResourceLine('{"resourceType":"Patient","name":[{"family":"Secretname"}],}', window);
    expect(check.ok).toBe(false);
    if (!check.ok) {
      expect(check.detail).not.toContain('Secretname');
      expect(check.detail).toMatch(/^not valid JSON/);
    }
    const wrongType = checkResourceLine('{"resourceType":"Secret name","id":"x"}', window);
    expect(wrongType.ok || wrongType.detail).toBe('expected Patient, found (not a resource type name)');
  });

  it('keeps the id on a missing-lastUpdated failure so the line can still be reported by id', () => {
    expect(checkResourceLine('{"resourceType":"Patient","id":"x"}', window)).toMatchObject({ id: 'x' });
  });

  it('throws on an invalid window boundary (a programming error, not a data error)', () => {
    expect(() => checkResourceLine(patient('2026-01-02T00:00:00Z'), { till: '2026-02-01' })).toThrow(/till/);
  });
});
