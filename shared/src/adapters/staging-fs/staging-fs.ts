/**
 * The embedded Staging adapter: a local folder, served over HTTP to the destination FHIR server with
 * signed, expiring URLs (see http-server.ts).
 *
 * Layout under `root`:
 * - `objects/<key>`: the content, put there by an atomic rename of a finished temp file;
 * - `meta/<key>`: JSON {bytes, sha256, contentType, ino, mtimeMs} written at put time, so that `list`
 *   never re-hashes; `ino`, size and `mtimeMs` tie it to one version of the content file, and a content file
 *   whose metadata does not match (a crash or a race between the two renames) is hashed once and its
 *   metadata rewritten;
 * - `tmp/`: uploads in progress (never listed); files untouched for an hour are swept at start-up.
 *
 * Since keys are paths, a key cannot also be a prefix of other keys (`a` and `a/b`); such a put fails.
 * Several processes may share one root: give them the same `secret` so that any of them can serve a URL
 * made by another.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, type Dirent } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StagedObject, Staging } from '../../ports/staging.ts';
import { StagingNotFoundError } from '../../ports/staging.ts';
import { mapLimit } from '../../runtime/map-limit.ts';
import {
  MIN_SECRET_BYTES,
  type ServedObject,
  signStagingToken,
  startStagingHttpServer,
} from './http-server.ts';

export interface FsStagingOptions {
  /** The folder; created if missing. */
  root: string;
  /** Interface the HTTP server listens on (default 127.0.0.1: only this machine can fetch). */
  host?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** Base of the URLs handed out, when the destination reaches this server by another address. */
  publicBaseUrl?: string;
  /**
   * HMAC key of the URL tokens, at least 32 bytes. Default: 32 random bytes per process, so that only this
   * instance can serve its URLs. Share one secret between processes sharing a folder.
   */
  secret?: Buffer;
  /** Clock for URL expiry (default: the system clock). */
  now?: () => Date;
}

export interface FsStaging extends Staging {
  /** Base URL of the HTTP server, without a trailing slash. */
  readonly baseUrl: string;
  /** Absolute path of the folder. */
  readonly root: string;
}

interface Meta {
  bytes: number;
  sha256: string;
  contentType?: string;
  ino: string;
  mtimeMs: string;
}

const STALE_TMP_MS = 60 * 60 * 1000;
const LIST_CONCURRENCY = 16;

function describeKey(key: string): string {
  return JSON.stringify(key);
}

/** Throws unless `key` is a relative, `/`-separated path without empty, `.` or `..` segments, `\` or NUL. */
export function assertStagingKey(key: string): void {
  const problem =
    typeof key !== 'string' || key === ''
      ? 'it is empty'
      : key.includes('\\')
        ? 'it contains a backslash'
        : key.includes('\0')
          ? 'it contains a NUL character'
          : key.startsWith('/')
            ? 'it is absolute'
            : key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')
              ? 'it has an empty, "." or ".." segment'
              : undefined;
  if (problem) throw new Error(`invalid staging key ${describeKey(key)}: ${problem}`);
}

/** Validates a list prefix; returns its folder part ('' for the root). */
function prefixFolder(prefix: string): string {
  const slash = prefix.lastIndexOf('/');
  if (prefix.includes('\\') || prefix.includes('\0') || prefix.startsWith('/')) {
    throw new Error(`invalid staging prefix ${describeKey(prefix)}`);
  }
  if (slash < 0) return '';
  const folder = prefix.slice(0, slash);
  assertStagingKey(folder);
  return folder;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function contentTypeOf(key: string): string {
  return key.endsWith('.ndjson') ? 'application/fhir+ndjson' : 'application/octet-stream';
}

function toBytes(chunk: unknown, key: string): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  throw new TypeError(`staging put ${describeKey(key)}: body chunks must be bytes`);
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export async function createFsStaging(options: FsStagingOptions): Promise<FsStaging> {
  const root = resolve(options.root);
  const dirs = { objects: join(root, 'objects'), meta: join(root, 'meta'), tmp: join(root, 'tmp') };
  const now = options.now ?? (() => new Date());
  const secret = options.secret ?? randomBytes(MIN_SECRET_BYTES);
  if (secret.length < MIN_SECRET_BYTES) {
    throw new Error(`staging secret must be at least ${MIN_SECRET_BYTES} bytes (got ${secret.length})`);
  }
  await Promise.all(Object.values(dirs).map((dir) => mkdir(dir, { recursive: true })));
  await sweepStaleTemp(dirs.tmp);

  const objectPath = (key: string) => join(dirs.objects, key);
  const metaPath = (key: string) => join(dirs.meta, key);

  async function readMeta(key: string): Promise<Meta | undefined> {
    try {
      const meta: unknown = JSON.parse(await readFile(metaPath(key), 'utf8'));
      if (typeof meta !== 'object' || meta === null) return undefined;
      const { bytes, sha256, ino, mtimeMs, contentType } = meta as Record<string, unknown>;
      if (typeof bytes !== 'number' || typeof sha256 !== 'string') return undefined;
      if (typeof ino !== 'string' || typeof mtimeMs !== 'string') return undefined;
      return { bytes, sha256, ino, mtimeMs, ...(typeof contentType === 'string' ? { contentType } : {}) };
    } catch {
      return undefined;
    }
  }

  /** The content file's metadata when it matches the current file, else undefined. */
  async function currentMeta(key: string): Promise<{ meta?: Meta; exists: boolean }> {
    const [stats, meta] = await Promise.all([
      stat(objectPath(key), { bigint: true }).catch((error: unknown) => {
        if (isMissing(error)) return undefined;
        throw error;
      }),
      readMeta(key),
    ]);
    if (!stats?.isFile()) return { exists: false };
    const matches =
      meta !== undefined &&
      meta.ino === String(stats.ino) &&
      meta.mtimeMs === String(stats.mtimeNs / 1_000_000n) &&
      BigInt(meta.bytes) === stats.size;
    return matches ? { meta, exists: true } : { exists: true };
  }

  /** Moves a finished temp file to `target`, making folders; retries if a delete prunes them meanwhile. */
  async function moveIntoPlace(from: string, target: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await mkdir(dirname(target), { recursive: true });
      try {
        await rename(from, target);
        return;
      } catch (error) {
        if (errorCode(error) !== 'ENOENT' || attempt >= 5) throw error;
      }
    }
  }

  async function writeObject(
    key: string,
    body: Readable | AsyncIterable<Uint8Array>,
    contentType: string | undefined,
  ): Promise<StagedObject> {
    const id = randomUUID();
    const tmpData = join(dirs.tmp, `${id}.data`);
    const tmpMeta = join(dirs.tmp, `${id}.meta`);
    try {
      const hash = createHash('sha256');
      let bytes = 0;
      await pipeline(
        body,
        async function* measure(source: AsyncIterable<unknown>) {
          for await (const chunk of source) {
            const data = toBytes(chunk, key);
            hash.update(data);
            bytes += data.byteLength;
            yield data;
          }
        },
        createWriteStream(tmpData, { flags: 'wx', flush: true }),
      );
      const sha256 = hash.digest('hex');
      const stats = await stat(tmpData, { bigint: true });
      const meta: Meta = {
        bytes,
        sha256,
        contentType,
        ino: String(stats.ino),
        mtimeMs: String(stats.mtimeNs / 1_000_000n),
      };
      await writeFile(tmpMeta, JSON.stringify(meta), { flag: 'wx' });
      await moveIntoPlace(tmpData, objectPath(key));
      await moveIntoPlace(tmpMeta, metaPath(key));
      return { key, bytes, sha256 };
    } catch (error) {
      await Promise.all([rm(tmpData, { force: true }), rm(tmpMeta, { force: true })]);
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`staging put ${describeKey(key)} failed: ${reason}`, { cause: error });
    }
  }

  /** Hashes the content file of `key` (metadata missing or stale) and rewrites its metadata. */
  async function rehash(key: string): Promise<StagedObject | undefined> {
    const handle = await open(objectPath(key), 'r').catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    if (!handle) return undefined;
    try {
      const stats = await handle.stat({ bigint: true });
      if (!stats.isFile()) return undefined;
      const hash = createHash('sha256');
      await pipeline(handle.createReadStream({ autoClose: false }), hash);
      const meta: Meta = {
        bytes: Number(stats.size),
        sha256: hash.digest('hex'),
        ino: String(stats.ino),
        mtimeMs: String(stats.mtimeNs / 1_000_000n),
      };
      const tmpMeta = join(dirs.tmp, `${randomUUID()}.meta`);
      try {
        await writeFile(tmpMeta, JSON.stringify(meta), { flag: 'wx' });
        await moveIntoPlace(tmpMeta, metaPath(key));
      } catch {
        await rm(tmpMeta, { force: true });
      }
      return { key, bytes: meta.bytes, sha256: meta.sha256 };
    } finally {
      await handle.close();
    }
  }

  async function describe(key: string): Promise<StagedObject | undefined> {
    const { meta, exists } = await currentMeta(key);
    if (!exists) return undefined;
    return meta ? { key, bytes: meta.bytes, sha256: meta.sha256 } : rehash(key);
  }

  async function walk(folder: string, keyPrefix: string, into: string[]): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for (const entry of entries) {
      const key = `${keyPrefix}${entry.name}`;
      if (entry.isDirectory()) await walk(join(folder, entry.name), `${key}/`, into);
      else if (entry.isFile()) into.push(key);
    }
  }

  /** Removes now-empty folders from `folder` up to (not including) `top`. */
  async function prune(folder: string, top: string): Promise<void> {
    for (let dir = folder; dir.startsWith(`${top}/`); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch (error) {
        if (!isMissing(error)) return;
      }
    }
  }

  async function openFile(key: string) {
    try {
      const handle = await open(objectPath(key), 'r');
      const stats = await handle.stat();
      if (stats.isFile()) return { handle, bytes: stats.size };
      await handle.close();
    } catch (error) {
      if (!isMissing(error) && errorCode(error) !== 'EISDIR') {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`staging get ${describeKey(key)} failed: ${reason}`, { cause: error });
      }
    }
    throw new StagingNotFoundError(key);
  }

  async function openObject(key: string): Promise<ServedObject | undefined> {
    try {
      assertStagingKey(key);
    } catch {
      return undefined;
    }
    const [file, meta] = await Promise.all([
      openFile(key).catch((error: unknown) => {
        if (error instanceof StagingNotFoundError) return undefined;
        throw error;
      }),
      currentMeta(key).catch(() => ({ meta: undefined })),
    ]);
    if (!file) return undefined;
    return {
      bytes: file.bytes,
      contentType: meta.meta?.contentType ?? contentTypeOf(key),
      stream: () => file.handle.createReadStream(),
      close: () => file.handle.close(),
    };
  }

  const server = await startStagingHttpServer({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    publicBaseUrl: options.publicBaseUrl,
    secret,
    now,
    openObject,
  });

  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new Error(`staging at ${root} is closed`);
  };

  return {
    baseUrl: server.baseUrl,
    root,

    async put(key, body, putOptions) {
      ensureOpen();
      assertStagingKey(key);
      return writeObject(key, body, putOptions?.contentType);
    },

    async get(key) {
      ensureOpen();
      assertStagingKey(key);
      const { handle } = await openFile(key);
      return handle.createReadStream();
    },

    async list(prefix) {
      ensureOpen();
      const folder = prefixFolder(prefix);
      const keys: string[] = [];
      await walk(folder ? objectPath(folder) : dirs.objects, folder ? `${folder}/` : '', keys);
      const matching = keys.filter((key) => key.startsWith(prefix)).sort(compareKeys);
      const described = await mapLimit(matching, LIST_CONCURRENCY, describe);
      return described.filter((object): object is StagedObject => object !== undefined);
    },

    async delete(keyOrPrefix) {
      ensureOpen();
      if (keyOrPrefix.endsWith('/')) {
        const folder = keyOrPrefix.slice(0, -1);
        assertStagingKey(folder);
        for (const top of [dirs.objects, dirs.meta]) {
          // Only a folder: a key equal to the prefix without its slash is not under the prefix.
          const isFolder = await stat(join(top, folder)).then(
            (stats) => stats.isDirectory(),
            () => false,
          );
          if (isFolder) await rm(join(top, folder), { recursive: true, force: true });
          await prune(dirname(join(top, folder)), top);
        }
        return;
      }
      assertStagingKey(keyOrPrefix);
      for (const top of [dirs.objects, dirs.meta]) {
        try {
          await unlink(join(top, keyOrPrefix));
        } catch (error) {
          // EISDIR/EPERM: the key names a folder of other keys, so there is no such object.
          if (!isMissing(error) && errorCode(error) !== 'EISDIR' && errorCode(error) !== 'EPERM') throw error;
        }
        await prune(dirname(join(top, keyOrPrefix)), top);
      }
    },

    async urlFor(key, { expiresInMs }) {
      ensureOpen();
      assertStagingKey(key);
      if (!Number.isFinite(expiresInMs) || expiresInMs <= 0) {
        throw new RangeError(`staging urlFor ${describeKey(key)}: expiresInMs must be a positive number`);
      }
      const token = signStagingToken(secret, key, now().getTime() + Math.ceil(expiresInMs));
      return `${server.baseUrl}/staging/${token}`;
    },

    async close() {
      closed = true;
      await server.close();
    },
  };
}

/** Removes temp files left by crashed puts; wall-clock age, because file times are wall-clock. */
async function sweepStaleTemp(tmp: string): Promise<void> {
  const cutoff = Date.now() - STALE_TMP_MS;
  for (const name of await readdir(tmp)) {
    const path = join(tmp, name);
    try {
      if ((await stat(path)).mtimeMs < cutoff) await rm(path, { force: true });
    } catch {
      // Taken by another process meanwhile.
    }
  }
}
