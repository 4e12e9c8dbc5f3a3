/**
 * The Azure Staging adapter: one Blob Storage container, optionally under a key prefix.
 *
 * - `put` streams the body as block blob blocks (`uploadStream`: at most `blockBytes × concurrency` bytes
 *   buffered), hashing on the fly; the blob exists only once the block list is committed, which is the last
 *   request, so a failed put leaves nothing visible and an overwrite keeps the previous version.
 * - The sha256 rides in blob metadata (`sha256`), set in that same commit, so `list` never reads content.
 * - `urlFor` hands out either a read-only SAS URL (account-key SAS for a shared-key client such as Azurite,
 *   user-delegation SAS for a token credential) or, with `urls: 'plain'`, the bare blob URL for readers
 *   that authenticate themselves: AHDS `$import` reads same-account blobs with its managed identity and
 *   rejects URLs with a query string.
 *
 * Errors name the operation and the key, never a SAS query string or an account key.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { TokenCredential } from '@azure/identity';
import {
  BlobSASPermissions,
  BlobServiceClient,
  ContainerClient,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
  type UserDelegationKey,
} from '@azure/storage-blob';
import type { StagedObject, Staging } from '../../ports/staging.ts';
import { StagingNotFoundError } from '../../ports/staging.ts';
import { mapLimit } from '../../runtime/map-limit.ts';
import { redactText } from '../fhir-http/redact.ts';
import { assertStagingKey } from '../staging-fs/staging-fs.ts';

/** Shared key, anonymous (a SAS in the URL) or a token credential. */
type BlobCredential = ContainerClient['credential'];

export interface BlobStagingOptions {
  /** The container: a client, or the account URL (`https://<account>.blob.core.windows.net`), a credential and a name. */
  container: ContainerClient | { accountUrl: string; credential: BlobCredential; containerName: string };
  /** Prefix of every blob name, e.g. `staging/` (a trailing `/` is added if missing). Default: none. */
  keyPrefix?: string;
  /**
   * What `urlFor` returns: `'sas'`, a read-only blob SAS valid `expiresInMs`; `'plain'`, the blob URL with no
   * query string (valid as long as the reader's own identity may read it; `expiresInMs` is not used).
   */
  urls: 'sas' | 'plain';
  /** Creates the container if it does not exist (needs a role that may create containers). Default false. */
  createContainer?: boolean;
  /** Size of one staged block, and so of one upload buffer (default 2 MiB). */
  blockBytes?: number;
  /** Upload buffers held (default 4); the SDK keeps up to three quarters of them in flight. */
  concurrency?: number;
  /** Lifetime asked for a user delegation key (default 1 day; capped at the service's 7 days). */
  delegationKeyLifetimeMs?: number;
  /** A cached delegation key is renewed once less than this is left of it (default 1 hour). */
  delegationKeyRenewBeforeMs?: number;
  /**
   * Where user delegation keys come from. Default: `BlobServiceClient.getUserDelegationKey` when the
   * credential is a token credential. Setting it forces user-delegation SAS (tests; a shared key cache).
   */
  getUserDelegationKey?: (startsOn: Date, expiresOn: Date) => Promise<UserDelegationKey>;
  /** Clock for SAS and key expiries (default: the system clock). */
  now?: () => Date;
}

/** A failed Blob Storage call: names the operation and the key; its message is redacted. */
export class BlobStagingError extends Error {
  readonly code = 'STAGING_BLOB_FAILED';
  constructor(
    readonly operation: string,
    readonly key: string,
    reason: string,
    /** HTTP status of the failed request, when there was one. */
    readonly status?: number,
    /** The storage error code (`ContainerNotFound`, `AuthorizationPermissionMismatch`, …). */
    readonly storageCode?: string,
  ) {
    super(redactText(`staging ${operation} ${JSON.stringify(key)} failed: ${reason}`));
    this.name = 'BlobStagingError';
  }
}

const MiB = 1024 * 1024;
const SHA256_METADATA = 'sha256';
const LIST_CONCURRENCY = 16;
const HOUR_MS = 60 * 60 * 1000;
const MAX_DELEGATION_KEY_MS = 7 * 24 * HOUR_MS;
/** Delegation keys start this far back, so that a service clock behind ours still accepts them. */
const DELEGATION_KEY_SKEW_MS = 5 * 60 * 1000;

interface StorageFailure {
  status?: number;
  storageCode?: string;
  message: string;
}

function storageFailure(error: unknown): StorageFailure {
  if (typeof error !== 'object' || error === null) return { message: String(error) };
  const record = error as { statusCode?: unknown; code?: unknown; details?: unknown; message?: unknown };
  const details = record.details as { errorCode?: unknown } | undefined;
  const storageCode =
    typeof details?.errorCode === 'string'
      ? details.errorCode
      : typeof record.code === 'string'
        ? record.code
        : undefined;
  // Storage messages are "<text>\nRequestId:…\nTime:…": the first line is the useful part.
  const message = typeof record.message === 'string' ? (record.message.split('\n')[0] ?? '') : String(error);
  return {
    ...(typeof record.statusCode === 'number' ? { status: record.statusCode } : {}),
    ...(storageCode ? { storageCode } : {}),
    message,
  };
}

function failed(operation: string, key: string, error: unknown): Error {
  if (error instanceof StagingNotFoundError || error instanceof BlobStagingError) return error;
  const { status, storageCode, message } = storageFailure(error);
  const reason = [status, storageCode].filter((part) => part !== undefined).join(' ');
  return new BlobStagingError(
    operation,
    key,
    reason ? `${reason}: ${message}` : message,
    status,
    storageCode,
  );
}

function isNotFound(error: unknown): boolean {
  return storageFailure(error).status === 404;
}

function contentTypeOf(key: string): string {
  return key.endsWith('.ndjson') ? 'application/fhir+ndjson' : 'application/octet-stream';
}

function toBytes(chunk: unknown, key: string): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  throw new TypeError(`staging put ${JSON.stringify(key)}: body chunks must be bytes`);
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Validates a list prefix: anything a key may start with ('' included). */
function assertStagingPrefix(prefix: string): void {
  if (
    typeof prefix !== 'string' ||
    prefix.includes('\\') ||
    prefix.includes('\0') ||
    prefix.startsWith('/')
  ) {
    throw new Error(`invalid staging prefix ${JSON.stringify(prefix)}`);
  }
  const slash = prefix.lastIndexOf('/');
  if (slash >= 0) assertStagingKey(prefix.slice(0, slash));
}

function normalisePrefix(prefix: string | undefined): string {
  if (!prefix) return '';
  const withSlash = prefix.endsWith('/') ? prefix : `${prefix}/`;
  assertStagingKey(withSlash.slice(0, -1));
  return withSlash;
}

/** The service URL a container URL belongs to (its last path segment removed, query dropped). */
function serviceUrlOf(containerUrl: string): string {
  const url = new URL(containerUrl);
  url.search = '';
  url.pathname = url.pathname.replace(/\/[^/]*\/?$/, '') || '/';
  return url.toString().replace(/\/$/, '');
}

function withoutQuery(url: string): string {
  const parsed = new URL(url);
  parsed.search = '';
  return parsed.toString();
}

/**
 * User delegation keys, cached: one key serves every SAS that expires before it does; it is renewed once
 * less than `renewBeforeMs` is left, and concurrent callers share one request.
 */
function delegationKeyCache(
  fetchKey: (startsOn: Date, expiresOn: Date) => Promise<UserDelegationKey>,
  now: () => Date,
  lifetimeMs: number,
  renewBeforeMs: number,
): (sasExpiresOnMs: number) => Promise<UserDelegationKey> {
  let cached: { key: UserDelegationKey; expiresOnMs: number } | undefined;
  let pending: { promise: Promise<UserDelegationKey>; expiresOnMs: number } | undefined;
  return async (sasExpiresOnMs) => {
    const nowMs = now().getTime();
    if (cached && cached.expiresOnMs >= sasExpiresOnMs && cached.expiresOnMs - nowMs > renewBeforeMs) {
      return cached.key;
    }
    if (pending && pending.expiresOnMs >= sasExpiresOnMs) return pending.promise;
    const expiresOnMs = Math.min(
      nowMs + MAX_DELEGATION_KEY_MS,
      Math.max(nowMs + lifetimeMs, sasExpiresOnMs + renewBeforeMs),
    );
    if (expiresOnMs < sasExpiresOnMs) {
      throw new RangeError('a user-delegation SAS cannot outlive 7 days');
    }
    const promise = fetchKey(new Date(nowMs - DELEGATION_KEY_SKEW_MS), new Date(expiresOnMs)).then((key) => {
      const signed = key.signedExpiresOn instanceof Date ? key.signedExpiresOn.getTime() : Number.NaN;
      cached = { key, expiresOnMs: Number.isFinite(signed) ? signed : expiresOnMs };
      return key;
    });
    const entry = { promise, expiresOnMs };
    pending = entry;
    const clear = () => {
      if (pending === entry) pending = undefined;
    };
    promise.then(clear, clear);
    return promise;
  };
}

/**
 * The staging container from settings: a connection string (account key: Azurite, accounts with shared
 * keys), or the account URL with the process's Entra ID credential.
 */
export function blobContainer(
  settings: { container: string; connectionString?: string | undefined; accountUrl?: string | undefined },
  credential: () => TokenCredential,
): BlobStagingOptions['container'] {
  if (settings.connectionString)
    return BlobServiceClient.fromConnectionString(settings.connectionString).getContainerClient(
      settings.container,
    );
  if (!settings.accountUrl) throw new Error('blob staging needs an account URL or a connection string');
  return { accountUrl: settings.accountUrl, credential: credential(), containerName: settings.container };
}

export async function createBlobStaging(options: BlobStagingOptions): Promise<Staging> {
  const container =
    options.container instanceof ContainerClient
      ? options.container
      : new BlobServiceClient(options.container.accountUrl, options.container.credential).getContainerClient(
          options.container.containerName,
        );
  const keyPrefix = normalisePrefix(options.keyPrefix);
  const blockBytes = options.blockBytes ?? 2 * MiB;
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(blockBytes) || blockBytes < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError('blob staging blockBytes and concurrency must be positive integers');
  }
  const now = options.now ?? (() => new Date());
  const credential = container.credential;
  const https = new URL(container.url).protocol === 'https:';

  /** Signs a read-only SAS for one blob; undefined in `'plain'` mode. */
  let signSas: ((blobName: string, expiresOn: Date) => Promise<string>) | undefined;
  if (options.urls === 'sas') {
    const base = (blobName: string, expiresOn: Date) => ({
      containerName: container.containerName,
      blobName,
      permissions: BlobSASPermissions.parse('r'),
      expiresOn,
      ...(https ? { protocol: SASProtocol.Https } : {}),
    });
    if (!options.getUserDelegationKey && credential instanceof StorageSharedKeyCredential) {
      signSas = async (blobName, expiresOn) =>
        generateBlobSASQueryParameters(base(blobName, expiresOn), credential).toString();
    } else {
      const fetchKey =
        options.getUserDelegationKey ??
        (isTokenCredential(credential)
          ? (() => {
              const service = new BlobServiceClient(serviceUrlOf(container.url), credential);
              return (startsOn: Date, expiresOn: Date) => service.getUserDelegationKey(startsOn, expiresOn);
            })()
          : undefined);
      if (!fetchKey) {
        throw new Error(
          "blob staging urls 'sas' needs a shared key or a token credential (for user-delegation SAS)",
        );
      }
      const keyFor = delegationKeyCache(
        fetchKey,
        now,
        options.delegationKeyLifetimeMs ?? 24 * HOUR_MS,
        options.delegationKeyRenewBeforeMs ?? HOUR_MS,
      );
      signSas = async (blobName, expiresOn) =>
        generateBlobSASQueryParameters(
          base(blobName, expiresOn),
          await keyFor(expiresOn.getTime()),
          container.accountName,
        ).toString();
    }
  }

  if (options.createContainer) {
    try {
      await container.createIfNotExists();
    } catch (error) {
      throw failed('create container', container.containerName, error);
    }
  }

  const blobName = (key: string) => `${keyPrefix}${key}`;
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new Error(`blob staging of container ${container.containerName} is closed`);
  };

  async function commitStream(
    key: string,
    body: Readable | AsyncIterable<Uint8Array>,
    contentType: string,
  ): Promise<StagedObject> {
    const hash = createHash('sha256');
    let bytes = 0;
    // uploadStream commits with this very object (it spreads its options at commit time), so the sha256,
    // known only at the end of the body, is filled in before the commit, i.e. before the blob exists.
    const metadata: Record<string, string> = {};
    async function* measure(): AsyncGenerator<Uint8Array> {
      for await (const chunk of body) {
        const data = toBytes(chunk, key);
        hash.update(data);
        bytes += data.byteLength;
        yield data;
      }
      metadata[SHA256_METADATA] = hash.digest('hex');
    }
    // Byte mode with a small high-water mark: while the uploader is paused at most one chunk waits here.
    const source = Readable.from(measure(), { objectMode: false, highWaterMark: 64 * 1024 });
    const blob = container.getBlockBlobClient(blobName(key));
    try {
      // Block blobs: staged blocks stay invisible; the final Put Block List makes the whole blob appear
      // at once (and replaces any previous version in one step). A failure before it leaves nothing.
      await blob.uploadStream(source, blockBytes, concurrency, {
        metadata,
        blobHTTPHeaders: { blobContentType: contentType },
      });
    } catch (error) {
      source.destroy();
      if (!(metadata[SHA256_METADATA] && storageFailure(error).storageCode === 'InvalidBlockList'))
        throw error;
      // Committing a block list discards the blob's other uncommitted blocks: a concurrent put of this key
      // committed while ours was staging. Ours is then ordered just before that one, which overwrote it.
      const exists = await blob.exists();
      if (!exists) throw error;
    }
    const sha256 = metadata[SHA256_METADATA];
    if (sha256 === undefined) throw new Error('upload finished before the body ended');
    return { key, bytes, sha256 };
  }

  /** The sha256 of a blob without one in its metadata (written by something else): hashed once, then stored. */
  async function hashBlob(name: string, etag: string | undefined): Promise<string> {
    const blob = container.getBlobClient(name);
    const response = await blob.download(0, undefined, etag ? { conditions: { ifMatch: etag } } : {});
    const hash = createHash('sha256');
    for await (const chunk of response.readableStreamBody ?? []) hash.update(toBytes(chunk, name));
    const sha256 = hash.digest('hex');
    await blob
      .setMetadata(
        { ...response.metadata, [SHA256_METADATA]: sha256 },
        etag ? { conditions: { ifMatch: etag } } : {},
      )
      .catch(() => undefined);
    return sha256;
  }

  async function listNames(prefix: string) {
    const items: { key: string; name: string; bytes: number; sha256?: string; etag?: string }[] = [];
    for await (const item of container.listBlobsFlat({ prefix: blobName(prefix), includeMetadata: true })) {
      items.push({
        key: item.name.slice(keyPrefix.length),
        name: item.name,
        bytes: item.properties.contentLength ?? 0,
        ...(item.metadata?.[SHA256_METADATA] ? { sha256: item.metadata[SHA256_METADATA] } : {}),
        ...(item.properties.etag ? { etag: item.properties.etag } : {}),
      });
    }
    return items.sort((a, b) => compareKeys(a.key, b.key));
  }

  return {
    async put(key, body, putOptions) {
      ensureOpen();
      assertStagingKey(key);
      try {
        return await commitStream(key, body, putOptions?.contentType ?? contentTypeOf(key));
      } catch (error) {
        throw failed('put', key, error);
      }
    },

    async get(key) {
      ensureOpen();
      assertStagingKey(key);
      try {
        const response = await container.getBlobClient(blobName(key)).download(0);
        const body = response.readableStreamBody;
        if (!body) throw new Error('download returned no body');
        return body instanceof Readable ? body : Readable.from(body);
      } catch (error) {
        if (isNotFound(error)) throw new StagingNotFoundError(key);
        throw failed('get', key, error);
      }
    },

    async list(prefix) {
      ensureOpen();
      assertStagingPrefix(prefix);
      try {
        const items = await listNames(prefix);
        return await mapLimit(items, LIST_CONCURRENCY, async (item) => ({
          key: item.key,
          bytes: item.bytes,
          sha256: item.sha256 ?? (await hashBlob(item.name, item.etag)),
        }));
      } catch (error) {
        throw failed('list', prefix, error);
      }
    },

    async delete(keyOrPrefix) {
      ensureOpen();
      const isPrefix = keyOrPrefix.endsWith('/');
      assertStagingKey(isPrefix ? keyOrPrefix.slice(0, -1) : keyOrPrefix);
      try {
        const names = isPrefix
          ? (await listNames(keyOrPrefix)).map((item) => item.name)
          : [blobName(keyOrPrefix)];
        await mapLimit(names, LIST_CONCURRENCY, async (name) => {
          await container.getBlobClient(name).deleteIfExists({ deleteSnapshots: 'include' });
        });
      } catch (error) {
        // A missing container holds no keys: nothing to delete.
        if (isNotFound(error)) return;
        throw failed('delete', keyOrPrefix, error);
      }
    },

    async urlFor(key, { expiresInMs }) {
      ensureOpen();
      assertStagingKey(key);
      if (!Number.isFinite(expiresInMs) || expiresInMs <= 0) {
        throw new RangeError(`staging urlFor ${JSON.stringify(key)}: expiresInMs must be a positive number`);
      }
      const url = withoutQuery(container.getBlobClient(blobName(key)).url);
      if (!signSas) return url;
      // SAS times have whole seconds: round up, so the URL lives at least `expiresInMs`.
      const expiresOn = new Date(Math.ceil((now().getTime() + expiresInMs) / 1000) * 1000);
      try {
        return `${url}?${await signSas(blobName(key), expiresOn)}`;
      } catch (error) {
        if (error instanceof RangeError) throw error;
        throw failed('urlFor', key, error);
      }
    },

    async close() {
      closed = true;
    },
  };
}

function isTokenCredential(
  credential: BlobCredential,
): credential is Extract<BlobCredential, { getToken: unknown }> {
  return typeof (credential as { getToken?: unknown }).getToken === 'function';
}
