import { describe, expect, it } from 'vitest';
import { checkBlock } from './check-block.ts';
import { splitBlocks } from './split-blocks.ts';

const options = { expectedType: 'Patient', since: '2026-01-01T00:00:00Z', till: '2026-02-01T00:00:00Z' };
const patient = (id: string, at = '2026-01-10T00:00:00Z') =>
  `{"resourceType":"Patient","id":"${id}","meta":{"lastUpdated":"${at}"}}`;

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.isBuffer(p) ? p : Buffer.from(p, 'utf8');
}

async function collect(gen: AsyncGenerator<Buffer>): Promise<string[]> {
  const out: string[] = [];
  for await (const b of gen) out.push(b.toString('utf8'));
  return out;
}

describe('checkBlock', () => {
  it('passes a clean block through unchanged (no rebuilt copy), counting lines and out-of-window ones', () => {
    const block = Buffer.from(`${patient('a')}\n${patient('b', '2025-06-01T00:00:00Z')}\n`);
    expect(checkBlock({ block, options, first: true })).toEqual({ lines: 2, outOfWindow: 1, rejected: [] });
  });

  it('refuses bad lines by number and rebuilds the block without them', () => {
    const block = Buffer.from(
      [
        patient('a'),
        '{"resourceType":"Patient"',
        '',
        '{"resourceType":"Observation","id":"o","meta":{}}',
        patient('e'),
      ]
        .map((l) => `${l}\n`)
        .join(''),
    );
    const verdict = checkBlock({ block, options, first: false });
    expect(verdict.lines).toBe(5);
    expect(verdict.rejected).toEqual([
      { line: 2, reason: 'invalid-json' },
      { line: 3, reason: 'invalid-json' },
      { line: 4, reason: 'wrong-type' },
    ]);
    expect(Buffer.from(verdict.rebuilt as Uint8Array).toString()).toBe(`${patient('a')}\n${patient('e')}\n`);
  });

  it('drops a BOM on the file’s first line, CRs before newlines, and ends the last line with one', () => {
    const block = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(`${patient('a')}\r\n${patient('b')}`),
    ]);
    const verdict = checkBlock({ block, options, first: true });
    expect(verdict).toMatchObject({ lines: 2, rejected: [] });
    expect(Buffer.from(verdict.rebuilt as Uint8Array).toString()).toBe(`${patient('a')}\n${patient('b')}\n`);
    // A BOM anywhere but the start of the file is not one.
    expect(checkBlock({ block, options, first: false }).rejected).toEqual([
      { line: 1, reason: 'invalid-json' },
    ]);
  });

  it('an empty block holds no line', () => {
    expect(checkBlock({ block: Buffer.alloc(0), options, first: true })).toEqual({
      lines: 0,
      outOfWindow: 0,
      rejected: [],
    });
  });
});

describe('splitBlocks', () => {
  it('cuts after whole lines only, whatever the chunk boundaries', async () => {
    const text = Array.from({ length: 50 }, (_, i) => patient(`p${i}`)).join('\n');
    const parts: string[] = [];
    for (let i = 0; i < text.length; i += 37) parts.push(text.slice(i, i + 37));
    const blocks = await collect(splitBlocks(chunks(...parts), { blockBytes: 300 }));
    expect(blocks.length).toBeGreaterThan(5);
    expect(blocks.join('')).toBe(text);
    for (const b of blocks.slice(0, -1)) expect(b.endsWith('\n')).toBe(true);
    expect(blocks.at(-1)?.endsWith('\n')).toBe(false);
  });

  it('keeps a multi-byte character split across chunks whole', async () => {
    const line = '{"resourceType":"Patient","id":"ü","name":"Zoë"}\n';
    const bytes = Buffer.from(line.repeat(3));
    const blocks = await collect(
      splitBlocks(chunks(bytes.subarray(0, 40), bytes.subarray(40)), { blockBytes: 10 }),
    );
    expect(blocks.join('')).toBe(line.repeat(3));
  });

  it('throws on a line longer than the limit, naming it', async () => {
    const gen = splitBlocks(chunks(`${patient('a')}\n`, 'x'.repeat(600), 'y'.repeat(600)), {
      blockBytes: 100,
      maxLineBytes: 1000,
    });
    await expect(collect(gen)).rejects.toThrow('NDJSON line 2 is longer than 1000 bytes');
  });
});
