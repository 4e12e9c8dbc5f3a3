import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stagingContract } from '../../testing/staging-contract.ts';
import { signStagingToken } from './http-server.ts';
import { createFsStaging, type FsStaging, type FsStagingOptions } from './staging-fs.ts';

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'staging-fs-'));
}

stagingContract('staging-fs', async () => {
  const root = await tempRoot();
  const staging = await createFsStaging({ root });
  return {
    staging,
    cleanup: async () => {
      await staging.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

async function* text(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield Buffer.from(part, 'utf8');
}

function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A raw request on a fresh connection, so that any method can be sent and the body read even for HEAD. */
function send(
  url: string,
  method: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function tokenOf(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}

describe('staging-fs', () => {
  const opened: { staging: FsStaging; root: string }[] = [];
  let root: string;

  async function open(options: Partial<FsStagingOptions> = {}): Promise<FsStaging> {
    const staging = await createFsStaging({ root, ...options });
    opened.push({ staging, root: options.root ?? root });
    return staging;
  }

  beforeEach(async () => {
    root = await tempRoot();
  });

  afterEach(async () => {
    for (const { staging } of opened.splice(0)) await staging.close();
    await rm(root, { recursive: true, force: true });
  });

  describe('HTTP serving', () => {
    it('serves .ndjson as application/fhir+ndjson and anything else as application/octet-stream', async () => {
      const staging = await open();
      await staging.put('job/Patient.ndjson', text('{}\n'));
      await staging.put('job/manifest.json', text('{}'));

      const ndjson = await fetch(await staging.urlFor('job/Patient.ndjson', { expiresInMs: 60_000 }));
      const other = await fetch(await staging.urlFor('job/manifest.json', { expiresInMs: 60_000 }));

      expect(ndjson.headers.get('content-type')).toBe('application/fhir+ndjson');
      expect(other.headers.get('content-type')).toBe('application/octet-stream');
      expect(await ndjson.text()).toBe('{}\n');
      expect(await other.text()).toBe('{}');
    });

    it('serves the content type given at put time', async () => {
      const staging = await open();
      await staging.put('job/Patient.ndjson.gz', text('gz'), { contentType: 'application/gzip' });

      const response = await fetch(await staging.urlFor('job/Patient.ndjson.gz', { expiresInMs: 60_000 }));

      expect(response.headers.get('content-type')).toBe('application/gzip');
      expect(await response.text()).toBe('gz');
    });

    it('answers HEAD with the headers of a GET and no body', async () => {
      const staging = await open();
      await staging.put('job/Observation.ndjson', text('{"resourceType":"Observation"}\n'));
      const url = await staging.urlFor('job/Observation.ndjson', { expiresInMs: 60_000 });

      const head = await send(url, 'HEAD');

      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe('31');
      expect(head.headers['content-type']).toBe('application/fhir+ndjson');
      expect(head.body).toBe('');
      expect((await send(url, 'GET')).body).toBe('{"resourceType":"Observation"}\n');
    });

    it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])(
      'answers %s with 405 and changes nothing',
      async (method) => {
        const staging = await open();
        await staging.put('job/Patient.ndjson', text('still here\n'));
        const url = await staging.urlFor('job/Patient.ndjson', { expiresInMs: 60_000 });

        const response = await send(url, method);

        expect(response.status).toBe(405);
        expect(response.headers.allow).toBe('GET, HEAD');
        expect((await send(url, 'GET')).body).toBe('still here\n');
      },
    );

    it('answers 400 for malformed tokens and 404 for other paths, echoing neither token nor key', async () => {
      const staging = await open();
      await staging.put('job/Patient.ndjson', text('x'));
      const url = await staging.urlFor('job/Patient.ndjson', { expiresInMs: 60_000 });
      const token = tokenOf(url);
      const payload = token.split('.')[0] ?? '';

      const malformed = [
        `${staging.baseUrl}/staging/no-dot-at-all`,
        `${staging.baseUrl}/staging/${payload}`,
        `${staging.baseUrl}/staging/${token}.extra`,
        `${staging.baseUrl}/staging/${'%7B%7D'}.${token.split('.')[1]}`,
      ];
      for (const bad of malformed) {
        const response = await send(bad, 'GET');
        expect(response.status, bad).toBe(400);
        expect(response.body).toBe('malformed token\n');
      }
      for (const path of ['/', '/staging', '/staging/', `/other/${token}`, `/staging/${token}/more`]) {
        const response = await send(`${staging.baseUrl}${path}`, 'GET');
        expect(response.status, path).toBe(404);
        expect(response.body).toBe('not found\n');
      }
    });

    it('refuses a token re-signed with another secret, a swapped key or a truncated signature', async () => {
      const staging = await open();
      await staging.put('job/Patient.ndjson', text('patients'));
      await staging.put('job/Other.ndjson', text('others'));
      const url = await staging.urlFor('job/Patient.ndjson', { expiresInMs: 60_000 });
      const [, signature] = tokenOf(url).split('.');
      const otherPayload = tokenOf(await staging.urlFor('job/Other.ndjson', { expiresInMs: 60_000 })).split(
        '.',
      )[0];

      const forged = signStagingToken(randomBytes(32), 'job/Patient.ndjson', Date.now() + 60_000);
      const responses = await Promise.all(
        [forged, `${otherPayload}.${signature}`, `${tokenOf(url).slice(0, -1)}`].map((token) =>
          send(`${staging.baseUrl}/staging/${token}`, 'GET'),
        ),
      );

      for (const response of responses) {
        expect(response.status).toBe(403);
        expect(response.body).toBe('forbidden\n');
      }
    });

    it('refuses a signature that differs only in the unused bits of its last base64url character', async () => {
      const staging = await open();
      await staging.put('job/Patient.ndjson', text('x'));
      const url = await staging.urlFor('job/Patient.ndjson', { expiresInMs: 60_000 });
      const token = tokenOf(url);
      const last = token.at(-1) ?? '';
      // A 32-byte HMAC is 43 base64url characters; the last one carries 4 bits, the 2 low bits are padding.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const sibling = alphabet[alphabet.indexOf(last) ^ 1] ?? '';

      const response = await send(`${staging.baseUrl}/staging/${token.slice(0, -1)}${sibling}`, 'GET');

      expect(response.status).toBe(403);
    });

    it('expires URLs by the injected clock', async () => {
      let clock = new Date('2030-01-01T00:00:00Z');
      const staging = await open({ now: () => clock });
      await staging.put('job/Patient.ndjson', text('x'));
      const url = await staging.urlFor('job/Patient.ndjson', { expiresInMs: 60_000 });

      clock = new Date('2030-01-01T00:00:59.999Z');
      expect((await send(url, 'GET')).status).toBe(200);
      clock = new Date('2030-01-01T00:01:00Z');
      expect((await send(url, 'GET')).status).toBe(403);
    });

    it('serves a large object with its full length, streamed', async () => {
      const staging = await open();
      const chunk = Buffer.alloc(1024 * 1024, 'z');
      async function* big(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 20; i++) yield chunk;
      }
      const stored = await staging.put('job/big.ndjson', big());

      const response = await fetch(await staging.urlFor('job/big.ndjson', { expiresInMs: 60_000 }));
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const part of response.body ?? []) {
        hash.update(part);
        bytes += part.byteLength;
      }

      expect(response.headers.get('content-length')).toBe(String(20 * 1024 * 1024));
      expect({ bytes, sha256: hash.digest('hex') }).toEqual({ bytes: stored.bytes, sha256: stored.sha256 });
    });

    it('listens on 127.0.0.1 only by default', async () => {
      const staging = await open();
      const { hostname, port } = new URL(staging.baseUrl);

      expect(hostname).toBe('127.0.0.1');
      const external = Object.values(networkInterfaces())
        .flat()
        .find((address) => address && address.family === 'IPv4' && !address.internal);
      if (external) {
        const refused = await new Promise<string>((resolve) => {
          const socket = connect({ host: external.address, port: Number(port) });
          socket.on('connect', () => {
            socket.destroy();
            resolve('connected');
          });
          socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
        });
        expect(refused).toBe('ECONNREFUSED');
      }
    });

    it('hands out URLs under publicBaseUrl', async () => {
      const staging = await open({ publicBaseUrl: 'http://host.docker.internal:9999/' });

      const url = await staging.urlFor('job/Patient.ndjson', { expiresInMs: 60_000 });

      expect(url).toMatch(
        /^http:\/\/host\.docker\.internal:9999\/staging\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/,
      );
    });

    it('lets instances sharing a folder and a secret serve each other’s URLs, and not without the secret', async () => {
      const secret = randomBytes(32);
      const writer = await open({ secret });
      const reader = await open({ secret });
      const stranger = await open();
      await writer.put('job/Patient.ndjson', text('shared\n'));

      const url = await writer.urlFor('job/Patient.ndjson', { expiresInMs: 60_000 });
      const viaReader = url.replace(writer.baseUrl, reader.baseUrl);
      const viaStranger = url.replace(writer.baseUrl, stranger.baseUrl);

      expect(reader.baseUrl).not.toBe(writer.baseUrl);
      const response = await send(viaReader, 'GET');
      expect(response).toMatchObject({ status: 200, body: 'shared\n' });
      expect((await send(viaStranger, 'GET')).status).toBe(403);
      expect(await reader.list('job/')).toEqual(await writer.list('job/'));
    });

    it('stops serving on close', async () => {
      const staging = await open();
      await staging.put('job/Patient.ndjson', text('x'));
      const url = await staging.urlFor('job/Patient.ndjson', { expiresInMs: 60_000 });
      expect((await send(url, 'GET')).status).toBe(200);

      await staging.close();

      await expect(send(url, 'GET')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      await expect(staging.urlFor('job/Patient.ndjson', { expiresInMs: 60_000 })).rejects.toThrow(/closed/);
      await staging.close();
    });
  });

  describe('folder', () => {
    it('names the key in the error for an invalid key', async () => {
      const staging = await open();

      await expect(staging.put('a/../../etc/passwd', text('x'))).rejects.toThrow('"a/../../etc/passwd"');
      await expect(staging.get('/etc/passwd')).rejects.toThrow('"/etc/passwd"');
      await expect(staging.delete('a//')).rejects.toThrow('"a/"');
      await expect(staging.list('../')).rejects.toThrow('".."');
      expect(await readdir(join(root, 'objects'))).toEqual([]);
    });

    it('refuses a bad secret or expiry', async () => {
      await expect(createFsStaging({ root, secret: randomBytes(16) })).rejects.toThrow(/at least 32 bytes/);
      const staging = await open();
      await expect(staging.urlFor('a', { expiresInMs: 0 })).rejects.toThrow(/expiresInMs/);
      await expect(staging.urlFor('a', { expiresInMs: Number.NaN })).rejects.toThrow(/expiresInMs/);
    });

    it('keeps uploads in progress out of the object tree and removes the temp file of a failed one', async () => {
      const staging = await open();
      let proceed!: () => void;
      let paused!: () => void;
      const atPause = new Promise<void>((resolve) => {
        paused = resolve;
      });
      const gate = new Promise<void>((resolve) => {
        proceed = resolve;
      });
      async function* breaksLater(): AsyncGenerator<Uint8Array> {
        yield Buffer.from('partial');
        paused();
        await gate;
        throw new Error('source broke');
      }

      const putting = staging.put('job/Patient.ndjson', breaksLater());
      await atPause;
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await readdir(join(root, 'tmp'))).length).toBe(1);
      expect(await readdir(join(root, 'objects'))).toEqual([]);
      proceed();

      await expect(putting).rejects.toThrow('staging put "job/Patient.ndjson" failed: source broke');
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
      expect(await staging.list('')).toEqual([]);
    });

    it('lists from the metadata written at put time, without re-hashing', async () => {
      const staging = await open();
      const stored = await staging.put('job/Patient.ndjson', text('original\n'));
      const path = join(root, 'objects', 'job', 'Patient.ndjson');
      const before = await stat(path, { bigint: true });
      // The middle of the same millisecond, so that float seconds round back into it.
      const sameMillisecond = (Number(before.mtimeNs / 1_000_000n) + 0.5) / 1000;
      // Same file (inode), same size, same mtime, other bytes: only a re-hash could notice.
      await writeFile(path, 'ORIGINAL\n', { flag: 'r+' });
      await utimes(path, sameMillisecond, sameMillisecond);

      expect(await staging.list('job/')).toEqual([stored]);
    });

    it('re-hashes a content file whose metadata is missing or stale, and records it', async () => {
      const staging = await open();
      await staging.put('job/Patient.ndjson', text('original\n'));
      await staging.put('job/Other.ndjson', text('other\n'));
      // A crash between the two renames: new content file, old or no metadata.
      await writeFile(join(root, 'objects', 'job', 'Patient.ndjson.new'), 'replaced content\n');
      await rm(join(root, 'objects', 'job', 'Patient.ndjson'));
      await writeFile(join(root, 'objects', 'job', 'Patient.ndjson'), 'replaced content\n');
      await rm(join(root, 'objects', 'job', 'Patient.ndjson.new'));
      await rm(join(root, 'meta', 'job', 'Other.ndjson'));

      const listed = await staging.list('job/');

      expect(listed).toEqual([
        { key: 'job/Other.ndjson', bytes: 6, sha256: sha256Hex('other\n') },
        { key: 'job/Patient.ndjson', bytes: 17, sha256: sha256Hex('replaced content\n') },
      ]);
      const meta = JSON.parse(await readFile(join(root, 'meta', 'job', 'Other.ndjson'), 'utf8'));
      expect(meta).toMatchObject({ bytes: 6, sha256: sha256Hex('other\n') });
    });

    it('sweeps temp files older than an hour at start-up, and leaves fresh ones', async () => {
      const first = await open();
      await first.close();
      const old = join(root, 'tmp', 'crashed.data');
      const fresh = join(root, 'tmp', 'in-progress.data');
      await writeFile(old, 'left by a crash');
      await writeFile(fresh, 'another process writing');
      const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
      await utimes(old, twoHoursAgo, twoHoursAgo);

      await open();

      expect(await readdir(join(root, 'tmp'))).toEqual(['in-progress.data']);
    });

    it('refuses a key that is also a prefix of other keys, naming it', async () => {
      const staging = await open();
      await staging.put('job/a', text('object'));
      await staging.put('job/b/c', text('object'));

      await expect(staging.put('job/a/b', text('x'))).rejects.toThrow('"job/a/b"');
      await expect(staging.put('job/b', text('x'))).rejects.toThrow('"job/b"');
      expect((await staging.list('')).map((o) => o.key)).toEqual(['job/a', 'job/b/c']);
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
    });

    it('prunes folders left empty by deletes', async () => {
      const staging = await open();
      await staging.put('job/1/Patient.ndjson', text('x'));
      await staging.put('job/2/Patient.ndjson', text('x'));

      await staging.delete('job/1/Patient.ndjson');
      await staging.delete('job/2/');

      expect(await readdir(join(root, 'objects'))).toEqual([]);
      expect(await readdir(join(root, 'meta'))).toEqual([]);
    });

    it('accepts string chunks from a Readable in object mode', async () => {
      const staging = await open();

      const stored = await staging.put('job/strings.ndjson', Readable.from(['{"a":"ü"}\n', '{"b":2}\n']));

      expect(stored.sha256).toBe(sha256Hex('{"a":"ü"}\n{"b":2}\n'));
    });
  });
});
