/**
 * Where exported files land between export and import. Adapters: a local folder served over HTTP
 * (embedded), Blob Storage (Azure). Contract: testing/staging-contract.ts.
 */
import type { Readable } from 'node:stream';

export interface StagedObject {
  key: string;
  bytes: number;
  /** Hex sha256 of the content. */
  sha256: string;
}

export class StagingNotFoundError extends Error {
  readonly code = 'STAGING_NOT_FOUND';
  constructor(readonly key: string) {
    super(`staged object not found: ${key}`);
    this.name = 'StagingNotFoundError';
  }
}

export interface Staging {
  /**
   * Streams `body` into `key` (overwriting), never holding it whole in memory. The object becomes visible
   * only once fully written. Keys are `/`-separated relative paths (no `..`, no leading `/`).
   */
  put(
    key: string,
    body: Readable | AsyncIterable<Uint8Array>,
    options?: { contentType?: string },
  ): Promise<StagedObject>;
  /** A stream of the object's bytes; rejects with {@link StagingNotFoundError}. */
  get(key: string): Promise<Readable>;
  /** Objects whose key starts with `prefix`, ordered by key. */
  list(prefix: string): Promise<StagedObject[]>;
  /** Deletes one key, or every key under `prefix` when it ends with `/`. Missing keys are not an error. */
  delete(keyOrPrefix: string): Promise<void>;
  /** A URL the destination FHIR server can GET the object from until `expiresInMs` has passed. */
  urlFor(key: string, options: { expiresInMs: number }): Promise<string>;
  close(): Promise<void>;
}
