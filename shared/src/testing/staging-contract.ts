/**
 * The Staging contract: every Staging adapter runs this suite (see ports/staging.ts).
 *
 * Each test works under its own random prefix, so an adapter may share one folder or container between
 * tests; `makeStaging` is called before each test and `cleanup` after it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StagedObject, Staging } from '../ports/staging.ts';
import { StagingNotFoundError } from '../ports/staging.ts';

export interface StagingContractOptions {
  /** Size of the streamed large object (default 50 MiB). */
  largeObjectBytes?: number;
  /**
   * Most memory (heap plus buffers, after a forced GC) the put of the large object may hold beyond the
   * baseline (default 24 MiB): a loose bound, far below the object's size.
   */
  maxRetainedBytes?: number;
  /** How long to wait for a URL made with `expiresInMs: 1` to expire (default 1,100 ms: SAS expiry has 1 s granularity). */
  expiryWaitMs?: number;
}

const MiB = 1024 * 1024;

export const INVALID_STAGING_KEYS: readonly string[] = [
  '',
  '/absolute',
  'a//b',
  'trailing/',
  '..',
  'a/../b',
  '.',
  'a/./b',
  'back\\slash',
  'nul\0char',
];

function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function hashStream(stream: AsyncIterable<Uint8Array>): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { bytes, sha256: hash.digest('hex') };
}

async function* chunksOf(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
}

/** `global.gc`, made reachable without a command-line flag; undefined if the runtime refuses. */
function forcedGc(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? () => gc() : undefined;
  } catch {
    return undefined;
  }
}

function heldMemory(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Changes one character in the middle of the signature (a `sig` query parameter, else the last path segment). */
function tamper(url: string): string {
  const parsed = new URL(url);
  const flip = (text: string) => {
    const at = Math.floor(text.length / 2);
    return `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`;
  };
  const sig = parsed.searchParams.get('sig');
  if (sig) {
    parsed.searchParams.set('sig', flip(sig));
    return parsed.toString();
  }
  const segments = parsed.pathname.split('/');
  segments[segments.length - 1] = flip(segments.at(-1) ?? '');
  parsed.pathname = segments.join('/');
  return parsed.toString();
}

async function fetchBytes(url: string): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const response = await fetch(url);
  return {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(await response.arrayBuffer()),
  };
}

export function stagingContract(
  name: string,
  makeStaging: () => Promise<{ staging: Staging; cleanup: () => Promise<void> }>,
  options: StagingContractOptions = {},
): void {
  const largeObjectBytes = options.largeObjectBytes ?? 50 * MiB;
  const maxRetainedBytes = options.maxRetainedBytes ?? 24 * MiB;
  const expiryWaitMs = options.expiryWaitMs ?? 1_100;

  describe(`Staging contract: ${name}`, () => {
    let staging: Staging;
    let cleanup: () => Promise<void>;
    let base: string;
    const key = (name: string) => `${base}${name}`;

    beforeEach(async () => {
      ({ staging, cleanup } = await makeStaging());
      base = `contract-${randomUUID()}/`;
    });

    afterEach(async () => {
      await cleanup();
    });

    describe('put and get', () => {
      it('round-trips bytes, unicode included, and reports their size and sha256', async () => {
        const text = '{"resourceType":"Patient","name":[{"family":"Łódź-Müller 山田 👩‍⚕️"}]}\n';
        const stored = await staging.put(key('Pätiënt/山田.ndjson'), chunksOf(text));

        expect(stored).toEqual({
          key: key('Pätiënt/山田.ndjson'),
          bytes: Buffer.byteLength(text),
          sha256: sha256Hex(text),
        });
        const read = await readAll(await staging.get(key('Pätiënt/山田.ndjson')));
        expect(read.toString('utf8')).toBe(text);
      });

      it('round-trips arbitrary binary bytes', async () => {
        const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31 + 7) % 256));
        const stored = await staging.put(key('binary.bin'), chunksOf(bytes));

        expect(stored.sha256).toBe(sha256Hex(bytes));
        expect(await readAll(await staging.get(key('binary.bin')))).toEqual(bytes);
      });

      it('stores an empty object', async () => {
        const stored = await staging.put(key('empty.ndjson'), chunksOf());

        expect(stored).toEqual({ key: key('empty.ndjson'), bytes: 0, sha256: sha256Hex('') });
        expect((await readAll(await staging.get(key('empty.ndjson')))).length).toBe(0);
        expect(await staging.list(key('empty'))).toEqual([stored]);
      });

      it('overwrites an existing key', async () => {
        await staging.put(key('over.ndjson'), chunksOf('first version, rather longer\n'));
        const second = await staging.put(key('over.ndjson'), chunksOf('second\n'));

        expect((await readAll(await staging.get(key('over.ndjson')))).toString()).toBe('second\n');
        expect(await staging.list(key('over'))).toEqual([second]);
        expect(second).toEqual({ key: key('over.ndjson'), bytes: 7, sha256: sha256Hex('second\n') });
      });

      it('accepts an async generator of many chunks', async () => {
        const lines = Array.from({ length: 500 }, (_, i) => `{"resourceType":"Observation","id":"o${i}"}\n`);
        const stored = await staging.put(key('gen.ndjson'), chunksOf(...lines));

        expect(stored.sha256).toBe(sha256Hex(lines.join('')));
        expect((await readAll(await staging.get(key('gen.ndjson')))).toString()).toBe(lines.join(''));
      });

      it('accepts a Readable, in byte mode and from Readable.from', async () => {
        const pushed = new Readable({ read() {} });
        pushed.push(Buffer.from('one\n'));
        pushed.push(Buffer.from('two\n'));
        pushed.push(null);
        const fromBuffers = Readable.from([Buffer.from('three\n'), Buffer.from('four\n')]);

        const a = await staging.put(key('a.ndjson'), pushed);
        const b = await staging.put(key('b.ndjson'), fromBuffers);

        expect(a).toEqual({ key: key('a.ndjson'), bytes: 8, sha256: sha256Hex('one\ntwo\n') });
        expect(b).toEqual({ key: key('b.ndjson'), bytes: 11, sha256: sha256Hex('three\nfour\n') });
        expect((await readAll(await staging.get(key('b.ndjson')))).toString()).toBe('three\nfour\n');
      });

      it(`streams a large object (${largeObjectBytes / MiB} MiB) without holding it in memory`, async () => {
        const chunkBytes = MiB;
        const chunks = Math.ceil(largeObjectBytes / chunkBytes);
        const expected = createHash('sha256');
        const gc = forcedGc();
        gc?.();
        const baseline = heldMemory();
        let peakRetained = 0;
        async function* generate(): AsyncGenerator<Uint8Array> {
          for (let i = 0; i < chunks; i++) {
            const size = Math.min(chunkBytes, largeObjectBytes - i * chunkBytes);
            const chunk = Buffer.alloc(size, i % 251);
            chunk.writeUInt32BE(i, 0);
            expected.update(chunk);
            if (gc && i % 5 === 4) {
              gc();
              peakRetained = Math.max(peakRetained, heldMemory() - baseline);
            }
            yield chunk;
          }
        }

        const stored = await staging.put(key('large.ndjson'), generate());
        const sha256 = expected.digest('hex');

        expect(stored).toEqual({ key: key('large.ndjson'), bytes: largeObjectBytes, sha256 });
        expect(await hashStream(await staging.get(key('large.ndjson')))).toEqual({
          bytes: largeObjectBytes,
          sha256,
        });
        expect(await staging.list(key('large'))).toEqual([stored]);
        if (gc) expect(peakRetained).toBeLessThan(maxRetainedBytes);
      });

      it('makes an object visible only once it is fully written', async () => {
        let reachedMiddle!: () => void;
        let finish!: () => void;
        const middle = new Promise<void>((resolve) => {
          reachedMiddle = resolve;
        });
        const gate = new Promise<void>((resolve) => {
          finish = resolve;
        });
        async function* slow(): AsyncGenerator<Uint8Array> {
          yield Buffer.from('first half;');
          reachedMiddle();
          await gate;
          yield Buffer.from('second half');
        }

        const putting = staging.put(key('slow.ndjson'), slow());
        await middle;
        await sleep(50);
        await expect(staging.get(key('slow.ndjson'))).rejects.toBeInstanceOf(StagingNotFoundError);
        expect(await staging.list(base)).toEqual([]);

        finish();
        await putting;
        expect((await readAll(await staging.get(key('slow.ndjson')))).toString()).toBe(
          'first half;second half',
        );
      });

      it('leaves nothing visible when the source fails part-way', async () => {
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield Buffer.from('partial line');
          throw new Error('source broke');
        }
        const broken = new Readable({
          read() {
            this.push(Buffer.from('partial'));
            this.destroy(new Error('socket reset'));
          },
        });

        await expect(staging.put(key('fail-gen.ndjson'), failing())).rejects.toThrow();
        await expect(staging.put(key('fail-readable.ndjson'), broken)).rejects.toThrow();

        await expect(staging.get(key('fail-gen.ndjson'))).rejects.toBeInstanceOf(StagingNotFoundError);
        await expect(staging.get(key('fail-readable.ndjson'))).rejects.toBeInstanceOf(StagingNotFoundError);
        expect(await staging.list(base)).toEqual([]);
      });

      it('keeps the previous version when an overwrite fails', async () => {
        const first = await staging.put(key('keep.ndjson'), chunksOf('complete\n'));
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield Buffer.from('half of a new vers');
          throw new Error('source broke');
        }

        await expect(staging.put(key('keep.ndjson'), failing())).rejects.toThrow();

        expect((await readAll(await staging.get(key('keep.ndjson')))).toString()).toBe('complete\n');
        expect(await staging.list(base)).toEqual([first]);
      });

      it('ends concurrent puts of one key with one whole version, listed with its own sha256', async () => {
        const a = Buffer.alloc(MiB, 'a');
        const b = Buffer.alloc(2 * MiB, 'b');

        await Promise.all([
          staging.put(key('race.ndjson'), chunksOf(a.subarray(0, MiB / 2), a.subarray(MiB / 2))),
          staging.put(key('race.ndjson'), chunksOf(b.subarray(0, MiB), b.subarray(MiB))),
        ]);

        const read = await readAll(await staging.get(key('race.ndjson')));
        expect([sha256Hex(a), sha256Hex(b)]).toContain(sha256Hex(read));
        expect(await staging.list(base)).toEqual([
          { key: key('race.ndjson'), bytes: read.length, sha256: sha256Hex(read) },
        ]);
      });

      it('rejects a missing key with StagingNotFoundError', async () => {
        await staging.put(key('folder/child.ndjson'), chunksOf('x'));

        const missing = staging.get(key('nope.ndjson'));
        await expect(missing).rejects.toBeInstanceOf(StagingNotFoundError);
        await expect(missing).rejects.toMatchObject({ code: 'STAGING_NOT_FOUND', key: key('nope.ndjson') });
        await expect(staging.get(key('folder'))).rejects.toBeInstanceOf(StagingNotFoundError);
        await expect(staging.get(key('folder/child.ndjson/deeper'))).rejects.toBeInstanceOf(
          StagingNotFoundError,
        );
      });

      it.each(INVALID_STAGING_KEYS.map((bad) => [JSON.stringify(bad), bad]))(
        'rejects the invalid key %s',
        async (_, bad) => {
          await expect(staging.put(bad as string, chunksOf('x'))).rejects.toThrow();
          await expect(staging.get(bad as string)).rejects.toThrow();
          await expect(staging.urlFor(bad as string, { expiresInMs: 60_000 })).rejects.toThrow();
          await expect(staging.get(bad as string)).rejects.not.toBeInstanceOf(StagingNotFoundError);
        },
      );
    });

    describe('list and delete', () => {
      const names = ['p/b/2', 'p/a', 'p/b-x', 'p/b/1', 'p/c.ndjson', 'p/bz', 'q/x', 'p-sibling'];

      async function putAll(): Promise<Map<string, StagedObject>> {
        const stored = new Map<string, StagedObject>();
        for (const name of names)
          stored.set(name, await staging.put(key(name), chunksOf(`content of ${name}\n`)));
        return stored;
      }

      it('lists the objects under a prefix in key order, with bytes and sha256, and nothing else', async () => {
        const stored = await putAll();

        const listed = await staging.list(key('p/'));

        expect(listed.map((o) => o.key)).toEqual(
          ['p/a', 'p/b-x', 'p/b/1', 'p/b/2', 'p/bz', 'p/c.ndjson'].map((name) => key(name)),
        );
        for (const object of listed) {
          const text = `content of ${object.key.slice(base.length)}\n`;
          expect(object).toEqual({
            key: object.key,
            bytes: Buffer.byteLength(text),
            sha256: sha256Hex(text),
          });
          expect(object).toEqual(stored.get(object.key.slice(base.length)));
        }
      });

      it('matches a prefix that ends inside a segment', async () => {
        await putAll();

        expect((await staging.list(key('p/b'))).map((o) => o.key)).toEqual(
          ['p/b-x', 'p/b/1', 'p/b/2', 'p/bz'].map((name) => key(name)),
        );
        expect((await staging.list(key('p'))).map((o) => o.key)).toEqual(
          ['p-sibling', 'p/a', 'p/b-x', 'p/b/1', 'p/b/2', 'p/bz', 'p/c.ndjson'].map((name) => key(name)),
        );
        expect(await staging.list(key('nothing/'))).toEqual([]);
        expect(await staging.list(key('p/c.ndjson/'))).toEqual([]);
      });

      it('deletes one key, leaving the others', async () => {
        await putAll();

        await staging.delete(key('p/b/1'));

        await expect(staging.get(key('p/b/1'))).rejects.toBeInstanceOf(StagingNotFoundError);
        expect((await staging.list(key('p/b/'))).map((o) => o.key)).toEqual([key('p/b/2')]);
        expect((await staging.list(base)).length).toBe(names.length - 1);
      });

      it('deletes every key under a prefix ending with "/", and only those', async () => {
        await putAll();

        await staging.delete(key('p/b/'));

        expect((await staging.list(base)).map((o) => o.key)).toEqual(
          ['p-sibling', 'p/a', 'p/b-x', 'p/bz', 'p/c.ndjson', 'q/x'].map((name) => key(name)),
        );
        await staging.delete(key('p/'));
        expect((await staging.list(base)).map((o) => o.key)).toEqual([key('p-sibling'), key('q/x')]);
      });

      it('treats deleting a missing key or prefix as done', async () => {
        await staging.put(key('kept'), chunksOf('kept'));

        await staging.delete(key('missing.ndjson'));
        await staging.delete(key('missing/'));
        await staging.delete(key('kept/'));

        expect((await staging.list(base)).map((o) => o.key)).toEqual([key('kept')]);
      });

      it('accepts new puts under a deleted prefix', async () => {
        await putAll();
        await staging.delete(key('p/'));

        await staging.put(key('p/b'), chunksOf('now an object'));

        expect((await readAll(await staging.get(key('p/b')))).toString()).toBe('now an object');
        expect((await staging.list(key('p/'))).map((o) => o.key)).toEqual([key('p/b')]);
      });
    });

    describe('urlFor', () => {
      it('gives a URL that a plain fetch can GET, twice in a row', async () => {
        const text = '{"resourceType":"Patient","id":"ü-1"}\n{"resourceType":"Patient","id":"2"}\n';
        await staging.put(key('Patient.ndjson'), chunksOf(text));

        const url = await staging.urlFor(key('Patient.ndjson'), { expiresInMs: 60_000 });
        const first = await fetchBytes(url);
        const second = await fetchBytes(url);

        for (const response of [first, second]) {
          expect(response.status).toBe(200);
          expect(response.body.toString('utf8')).toBe(text);
          expect(response.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
        }
      });

      it('gives a URL for a unicode key', async () => {
        await staging.put(key('Pätiënt/山田.ndjson'), chunksOf('unicode key\n'));

        const response = await fetchBytes(
          await staging.urlFor(key('Pätiënt/山田.ndjson'), { expiresInMs: 60_000 }),
        );

        expect(response.status).toBe(200);
        expect(response.body.toString()).toBe('unicode key\n');
      });

      it('refuses an expired URL', async () => {
        await staging.put(key('soon.ndjson'), chunksOf('expires\n'));

        const url = await staging.urlFor(key('soon.ndjson'), { expiresInMs: 1 });
        await sleep(expiryWaitMs);

        const response = await fetchBytes(url);
        expect(response.status).toBe(403);
        expect(response.body.toString()).not.toContain('expires');
      });

      it('refuses a tampered URL', async () => {
        await staging.put(key('signed.ndjson'), chunksOf('secret-ish content\n'));

        const url = await staging.urlFor(key('signed.ndjson'), { expiresInMs: 60_000 });
        const response = await fetchBytes(tamper(url));

        expect(response.status).toBe(403);
        expect(response.body.toString()).not.toContain('secret-ish');
      });

      it('answers 404 for a URL of a missing object', async () => {
        await staging.put(key('gone.ndjson'), chunksOf('soon deleted\n'));
        const missing = await staging.urlFor(key('never.ndjson'), { expiresInMs: 60_000 });
        const gone = await staging.urlFor(key('gone.ndjson'), { expiresInMs: 60_000 });
        await staging.delete(key('gone.ndjson'));

        expect((await fetchBytes(missing)).status).toBe(404);
        expect((await fetchBytes(gone)).status).toBe(404);
      });
    });
  });
}
