/**
 * Import for destinations without `$import`: `batch` Bundles of id-preserving `PUT Type/id` entries (and
 * `DELETE Type/id` for deletions), bounded and adaptive concurrency (see rest-batch.ts). Each entry is built
 * by concatenating the NDJSON line's own text, never by re-serialising the parsed resource: a FHIR decimal
 * such as 37.0000000000000000000 reaches the destination exactly as exported.
 *
 * Every input line ends up either imported or in `failed` with its line number and a reason (invalid JSON,
 * wrong type, no id, or the destination's OperationOutcome); nothing is dropped silently.
 */
import type { FhirClient } from '../client.ts';
import { checkResourceLine } from '../ndjson.ts';
import type { RetryPolicy } from '../retry.ts';
import { assertResourceTypes } from './export-common.ts';
import { type BatchEntry, createBatchSender } from './rest-batch.ts';

export interface RestImporterOptions {
  /** Entries per Bundle. Default 100. */
  bundleSize?: number;
  /** Most Bundles in flight (the adaptive limit never exceeds it). Default 4. */
  concurrency?: number;
  /** 429 answers tolerated per entry before applyFile throws a retryable error. Default 10. */
  maxThrottleRetries?: number;
  backoff?: Partial<Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>>;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

export interface RestImportFailure {
  line: number;
  type: string;
  id?: string;
  status?: number;
  reason: string;
}

export interface RestImportResult {
  imported: number;
  /** Sorted by line number. */
  failed: RestImportFailure[];
}

export interface RestDeleteFailure {
  type: string;
  id: string;
  status?: number;
  reason: string;
}

export interface RestDeleteResult {
  /** Deleted now or already gone (404/410). */
  deleted: number;
  failed: RestDeleteFailure[];
}

export interface RestImporter {
  applyFile(
    type: string,
    lines: AsyncIterable<{ line: number; text: string; invalidUtf8?: boolean }>,
  ): Promise<RestImportResult>;
  applyDeletes(refs: readonly { type: string; id: string }[]): Promise<RestDeleteResult>;
}

const fhirId = /^[A-Za-z0-9\-.]{1,64}$/;

export function createRestImporter(client: FhirClient, options: RestImporterOptions = {}): RestImporter {
  const bundleSize = Math.max(1, options.bundleSize ?? 100);
  const sender = createBatchSender(client, {
    concurrency: options.concurrency ?? 4,
    ...(options.maxThrottleRetries !== undefined ? { maxThrottleRetries: options.maxThrottleRetries } : {}),
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.random ? { random: options.random } : {}),
  });

  /** Sends entries in Bundles of `bundleSize`, keeping at most `sender.limit` Bundles pending. */
  async function pump(entries: AsyncIterable<BatchEntry>): Promise<void> {
    const pending = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    const launch = (batch: BatchEntry[]) => {
      const p: Promise<void> = sender
        .send(batch)
        .catch((error: unknown) => {
          failure ??= { error };
        })
        .finally(() => pending.delete(p));
      pending.add(p);
    };
    let batch: BatchEntry[] = [];
    for await (const entry of entries) {
      if (failure) break;
      batch.push(entry);
      if (batch.length < bundleSize) continue;
      launch(batch);
      batch = [];
      while (pending.size >= sender.limit) await Promise.race(pending);
    }
    if (!failure && batch.length > 0) launch(batch);
    await Promise.all(pending);
    if (failure) throw failure.error;
  }

  return {
    async applyFile(type, lines) {
      assertResourceTypes([type]);
      let imported = 0;
      const failed: RestImportFailure[] = [];
      async function* entries(): AsyncGenerator<BatchEntry> {
        for await (const { line, text, invalidUtf8 } of lines) {
          if (invalidUtf8) {
            failed.push({ line, type, reason: 'invalid-json: not valid UTF-8' });
            continue;
          }
          const check = checkResourceLine(text, { expectedType: type });
          // lastUpdated is not needed to write a resource; every other check is.
          const id = check.ok ? check.id : check.reason === 'missing-lastUpdated' ? check.id : undefined;
          if (id === undefined) {
            const reason = check.ok ? 'no id' : `${check.reason}: ${check.detail}`;
            failed.push({ line, type, ...(!check.ok && check.id ? { id: check.id } : {}), reason });
            continue;
          }
          yield {
            json: `{"resource":${text},"request":{"method":"PUT","url":"${type}/${id}"}}`,
            settle({ status, reason }) {
              if (reason === undefined && status !== undefined && status >= 200 && status < 300) imported++;
              else
                failed.push({
                  line,
                  type,
                  id,
                  ...(status !== undefined ? { status } : {}),
                  reason: reason ?? 'failed',
                });
            },
          };
        }
      }
      await pump(entries());
      failed.sort((a, b) => a.line - b.line);
      return { imported, failed };
    },

    async applyDeletes(refs) {
      let deleted = 0;
      const failed: RestDeleteFailure[] = [];
      async function* entries(): AsyncGenerator<BatchEntry> {
        for (const { type, id } of refs) {
          if (!/^[A-Z][A-Za-z]{1,63}$/.test(type) || !fhirId.test(id)) {
            failed.push({ type, id, reason: 'not a valid Type/id reference' });
            continue;
          }
          yield {
            json: `{"request":{"method":"DELETE","url":"${type}/${id}"}}`,
            settle({ status, reason }) {
              const gone = status === 404 || status === 410;
              if (gone || (reason === undefined && status !== undefined && status >= 200 && status < 300))
                deleted++;
              else
                failed.push({
                  type,
                  id,
                  ...(status !== undefined ? { status } : {}),
                  reason: reason ?? 'failed',
                });
            },
          };
        }
      }
      await pump(entries());
      return { deleted, failed };
    },
  };
}
