/**
 * The ledger in Azure Cosmos DB (SQL API), one container partitioned by `/migrationId`, so that every append
 * of a migration is a single-partition transactional batch and every read a single-partition query.
 *
 * Three kinds of documents share a migration's logical partition:
 * - `event`: one per event, id `${streamId}:${seq}`. Deterministic, so a second writer of the same seq gets
 *   409 even if everything else were bypassed. Cosmos forbids `/ \ ? #` in ids, so those characters (and `%`
 *   and `~`) are escaped as `~XX` in the document id; `StoredEvent.id` is always the plain `${streamId}:${seq}`.
 * - `head`: one per stream, id `${streamId}:head` (a suffix, since a `head:` prefix would collide with the
 *   events of a stream named `head`), carrying the stream's version. `listStreams` reads only these, so the
 *   chunk store's "which streams moved" costs one document per stream, never a scan of the events.
 * - `position`: one per migration, id `position` (no `:`, so it collides with neither), the last position
 *   handed out. Each event stores its `position`, and `readAll` orders by it.
 *
 * Why a position counter for `readAll`'s order: it is the only order that matches commit order across
 * writers. Client clocks (`at`, or an `appendedAt`) skew between processes, and `_ts` has one-second
 * resolution. The cost: every append of a migration moves the same document, so concurrent appends to
 * different streams of one migration contend on it. The loser's batch fails with 412 on the counter and is
 * retried here after a short jittered pause (re-reading the head first, so a real version conflict still
 * surfaces as a LedgerConflictError). Each append pays two point reads (head, counter, ~1 RU each) plus the
 * counter replace in its batch (~10 RU), and under contention the appends of one migration serialise, one
 * batch round trip each (50 concurrent appends to distinct streams took ~7 batches per append against the
 * emulator). That suits this system's rate, a few appends per chunk step with steps taking seconds; it would
 * not suit thousands of concurrent writers per migration. A sortable `appendedAt` plus tiebreak would avoid
 * the hot document but give an order that is not the commit order.
 *
 * Atomicity: the counter, the head and the events go in one `items.batch` (one partition key value, at most
 * 100 operations, so at most 98 events per append). On the real service that is all-or-nothing, and the failed
 * operation reports its own status while the others report 424. The operations are ordered guard-first
 * (counter, then head, then events), because `@vercel/cosmosdb-server` runs a batch operation by operation,
 * stops at the first failure and rolls nothing back: on the emulator a lost race on the counter leaves nothing
 * behind, and a lost race on the head leaves only a gap in the positions (harmless, positions only need to
 * grow). Only a failing event create after both guards passed (an oversized document, for example) would
 * leave a partial append there; that is reported as `LEDGER_NOT_ATOMIC` instead of being passed off as a
 * conflict. Event data is serialised before any request, so unserialisable data never reaches the store.
 *
 * Throttling: the SDK retries 429s itself, waiting the server's `x-ms-retry-after-ms` (it does so whenever
 * `fixedRetryIntervalInMilliseconds` is unset); {@link cosmosLedgerClientOptions} raises its budget for the
 * background workers. A 429 that outlasts the budget surfaces as a transient `LEDGER_THROTTLED` error.
 *
 * Queries filter on `c.migrationId = @m` in their text and also pass `partitionKey`: the real service needs
 * the option to route to one partition, and the emulator ignores it.
 */
import {
  BulkOperationType,
  type Container,
  type CosmosClient,
  type CosmosClientOptions,
  ErrorResponse,
  type IndexingPolicy,
  type JSONObject,
  type JSONValue,
  type OperationInput,
  type OperationResponse,
  type RetryOptions,
  type SqlParameter,
} from '@azure/cosmos';
import { z } from 'zod';
import type { Ledger, NewEvent, StoredEvent, StreamInfo } from '../../ports/ledger.ts';
import { LedgerConflictError } from '../../ports/ledger.ts';

export interface CosmosLedgerOptions {
  /** A container partitioned by `/migrationId` (see {@link ensureLedgerContainer}). */
  container: Container;
  /** Attempts at an append that only lost the race for the migration's position counter. Default 30. */
  maxPositionAttempts?: number;
}

/** Two operations of every batch are the counter and the head; Cosmos allows 100 per batch. */
export const maxEventsPerAppend = 98;

/**
 * Throttling retries for the ledger's client: honour the server's retry-after (no fixed interval), for longer
 * than the SDK's default 9 attempts / 30 s, since the workers run in the background and a gave-up append costs
 * a redelivery, a reload and a new decision.
 */
export const ledgerRetryOptions: RetryOptions = { maxRetryAttemptCount: 20, maxWaitTimeInSeconds: 60 };

/** `options` with the ledger's throttling retries; everything else (endpoint, credential, agent) is kept. */
export function cosmosLedgerClientOptions(options: CosmosClientOptions): CosmosClientOptions {
  return {
    ...options,
    connectionPolicy: { ...options.connectionPolicy, retryOptions: ledgerRetryOptions },
  };
}

/** Event data is read by key in code, never queried: keeping it out of the index makes appends cheaper. */
const indexingPolicy: IndexingPolicy = {
  indexingMode: 'consistent',
  automatic: true,
  includedPaths: [{ path: '/*' }],
  excludedPaths: [{ path: '/data/*' }, { path: '/"_etag"/?' }],
};

/** Creates the database and the container (partition key `/migrationId`) if missing; refuses another key. */
export async function ensureLedgerContainer(
  client: CosmosClient,
  databaseId: string,
  containerId: string,
): Promise<Container> {
  const context: Context = { operation: 'ensureLedgerContainer', migrationId: '-' };
  try {
    const { database } = await client.databases.createIfNotExists({ id: databaseId });
    const { container, resource } = await database.containers.createIfNotExists({
      id: containerId,
      partitionKey: { paths: ['/migrationId'] },
      indexingPolicy,
    });
    const paths = resource?.partitionKey?.paths ?? [];
    if (paths.length !== 1 || paths[0] !== '/migrationId') {
      throw new Error(
        `container ${databaseId}/${containerId} is partitioned by ${JSON.stringify(paths)}, expected ["/migrationId"]`,
      );
    }
    return container;
  } catch (error) {
    throw storeError(context, error);
  }
}

type Operation = 'append' | 'readStream' | 'listStreams' | 'readAll' | 'ensureLedgerContainer';

interface Context {
  operation: Operation;
  migrationId: string;
  streamId?: string;
}

/**
 * The store failed (not a version conflict). `transient` says whether a retry later may succeed. The message
 * names the operation, migration and stream and the status, never the endpoint, a key or event data.
 */
export class CosmosLedgerError extends Error {
  readonly operation: Operation;
  readonly migrationId: string;
  readonly streamId: string | undefined;
  constructor(
    context: Context,
    readonly code: 'LEDGER_UNAVAILABLE' | 'LEDGER_THROTTLED' | 'LEDGER_CONTENTION' | 'LEDGER_NOT_ATOMIC',
    readonly transient: boolean,
    detail: string,
    readonly statusCode?: number,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    const where = context.streamId
      ? `stream ${context.streamId} of migration ${context.migrationId}`
      : `migration ${context.migrationId}`;
    super(`cosmos ledger ${context.operation} failed for ${where}: ${detail}`, options);
    this.name = 'CosmosLedgerError';
    this.operation = context.operation;
    this.migrationId = context.migrationId;
    this.streamId = context.streamId;
  }
}

function storeError(context: Context, error: unknown): Error {
  if (error instanceof CosmosLedgerError || error instanceof LedgerConflictError) return error;
  if (error instanceof ErrorResponse) {
    const status = typeof error.code === 'number' ? error.code : undefined;
    const sub = error.substatus === undefined ? '' : `/${error.substatus}`;
    if (status === 429) {
      return new CosmosLedgerError(
        context,
        'LEDGER_THROTTLED',
        true,
        `throttled (429${sub}) beyond the client's retry budget`,
        status,
        error.retryAfterInMs,
        { cause: error },
      );
    }
    const transient = status === undefined || status === 408 || status === 449 || status >= 500;
    return new CosmosLedgerError(
      context,
      'LEDGER_UNAVAILABLE',
      transient,
      `status ${status ?? '?'}${sub}`,
      status,
      undefined,
      {
        cause: error,
      },
    );
  }
  // Network errors, timeouts and the SDK's "Batch request error" wrapper (which drops the status code).
  const name = error instanceof Error ? error.name : typeof error;
  return new CosmosLedgerError(
    context,
    'LEDGER_UNAVAILABLE',
    true,
    `request failed (${name})`,
    undefined,
    undefined,
    {
      cause: error,
    },
  );
}

const eventDoc = z.object({
  streamId: z.string(),
  seq: z.number().int(),
  type: z.string(),
  at: z.string(),
  data: z.unknown(),
});
const headDoc = z.object({ streamId: z.string(), version: z.number().int(), _etag: z.string() });
const positionDoc = z.object({ last: z.number().int(), _etag: z.string() });
const streamInfo = z.object({ streamId: z.string(), version: z.number().int() });

const positionId = 'position';

/**
 * Cosmos item ids may not contain `/ \ ? #`, and `%` in an id invites double-decoding trouble in point reads:
 * those become `~XX` (hex), with `~` itself escaped so that distinct streams stay distinct.
 */
function idPart(streamId: string): string {
  return streamId.replace(
    /[~%/\\?#]/g,
    (ch) => `~${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}

/** The Cosmos document id of an event: `${streamId}:${seq}`, with the characters Cosmos forbids escaped. */
export function eventDocumentId(streamId: string, seq: number): string {
  return `${idPart(streamId)}:${seq}`;
}

/** The Cosmos document id of a stream's head. */
export function headDocumentId(streamId: string): string {
  return `${idPart(streamId)}:head`;
}

/** The JSON value the store will hold (and a later read return); throws before any request if there is none. */
function storedData(data: unknown): JSONValue {
  const text = JSON.stringify(data ?? null);
  if (typeof text !== 'string') throw new TypeError('event data is not JSON-serialisable');
  return JSON.parse(text);
}

const isSuccess = (status: number): boolean => status >= 200 && status < 300;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function createCosmosLedger({ container, maxPositionAttempts = 30 }: CosmosLedgerOptions): Ledger {
  let closed = false;
  function ensureOpen(): void {
    if (closed) throw new Error('the Cosmos ledger is closed');
  }

  async function readDoc(id: string, context: Context): Promise<unknown> {
    try {
      const { resource } = await container.item(id, context.migrationId).read();
      return resource;
    } catch (error) {
      throw storeError(context, error);
    }
  }

  async function query(context: Context, text: string, parameters: SqlParameter[]): Promise<unknown[]> {
    try {
      const { resources } = await container.items
        .query<unknown>(
          { query: text, parameters: [{ name: '@m', value: context.migrationId }, ...parameters] },
          { partitionKey: context.migrationId, maxItemCount: 1000 },
        )
        .fetchAll();
      return resources;
    } catch (error) {
      throw storeError(context, error);
    }
  }

  function toStoredEvent(migrationId: string, raw: unknown): StoredEvent {
    const doc = eventDoc.parse(raw);
    return {
      id: `${doc.streamId}:${doc.seq}`,
      migrationId,
      streamId: doc.streamId,
      seq: doc.seq,
      type: doc.type,
      at: doc.at,
      data: doc.data,
    };
  }

  async function appendOnce(
    context: Context & { streamId: string },
    expectedVersion: number,
    events: readonly { type: string; at: string; data: JSONValue }[],
  ): Promise<StoredEvent[] | 'position-moved'> {
    const { migrationId, streamId } = context;
    const [rawHead, rawPosition] = await Promise.all([
      readDoc(headDocumentId(streamId), context),
      events.length > 0 ? readDoc(positionId, context) : Promise.resolve(undefined),
    ]);
    const head = rawHead === undefined ? undefined : headDoc.parse(rawHead);
    if ((head?.version ?? 0) !== expectedVersion) {
      throw new LedgerConflictError(migrationId, streamId, expectedVersion);
    }
    if (events.length === 0) return [];
    const position = rawPosition === undefined ? undefined : positionDoc.parse(rawPosition);
    const lastPosition = position?.last ?? 0;
    const version = expectedVersion + events.length;
    const docs = events.map((event, index) => ({
      id: eventDocumentId(streamId, expectedVersion + index + 1),
      kind: 'event',
      migrationId,
      streamId,
      seq: expectedVersion + index + 1,
      position: lastPosition + index + 1,
      type: event.type,
      at: event.at,
      data: event.data,
    }));
    const positionBody: JSONObject = {
      id: positionId,
      kind: 'position',
      migrationId,
      last: lastPosition + events.length,
    };
    const headId = headDocumentId(streamId);
    const headBody: JSONObject = {
      id: headId,
      kind: 'head',
      migrationId,
      streamId,
      version,
    };
    const pk = { partitionKey: migrationId };
    const operations: OperationInput[] = [
      position
        ? {
            ...pk,
            operationType: BulkOperationType.Replace,
            id: positionId,
            resourceBody: positionBody,
            ifMatch: position._etag,
          }
        : { ...pk, operationType: BulkOperationType.Create, resourceBody: positionBody },
      head
        ? {
            ...pk,
            operationType: BulkOperationType.Replace,
            id: headId,
            resourceBody: headBody,
            ifMatch: head._etag,
          }
        : { ...pk, operationType: BulkOperationType.Create, resourceBody: headBody },
      ...docs.map(
        (doc): OperationInput => ({ ...pk, operationType: BulkOperationType.Create, resourceBody: doc }),
      ),
    ];

    let results: OperationResponse[];
    try {
      const response = await container.items.batch(operations, migrationId);
      results = response.result ?? [];
    } catch (error) {
      throw storeError(context, error);
    }
    const failed = results.findIndex((r) => !isSuccess(r.statusCode) && r.statusCode !== 424);
    if (
      failed === -1 &&
      results.length === operations.length &&
      results.every((r) => isSuccess(r.statusCode))
    ) {
      return docs.map((doc) => toStoredEvent(migrationId, doc));
    }
    const status = results[failed]?.statusCode;
    if (failed === 0 && (status === 412 || status === 409)) return 'position-moved';
    if (status === 429) {
      throw new CosmosLedgerError(context, 'LEDGER_THROTTLED', true, 'batch operation throttled (429)', 429);
    }
    if (failed === 1 && (status === 412 || status === 409 || status === 404)) {
      throw new LedgerConflictError(migrationId, streamId, expectedVersion);
    }
    const statuses = results.map((r) => r.statusCode).join(',');
    if (failed >= 2 && results.slice(0, failed).some((r) => isSuccess(r.statusCode))) {
      // Only a store without transactional batches gets here (the emulator): the guards were applied.
      throw new CosmosLedgerError(
        context,
        'LEDGER_NOT_ATOMIC',
        false,
        `the store applied part of a transactional batch (operation statuses ${statuses}); the stream may hold a partial append`,
        status,
      );
    }
    if (failed >= 2 && status === 409) throw new LedgerConflictError(migrationId, streamId, expectedVersion);
    throw new CosmosLedgerError(
      context,
      'LEDGER_UNAVAILABLE',
      status === undefined || status >= 500,
      `batch failed (operation statuses ${statuses || 'none'})`,
      status,
    );
  }

  return {
    async append(migrationId, streamId, expectedVersion, events: readonly NewEvent[]) {
      ensureOpen();
      if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
        throw new RangeError(`expected version must be a non-negative integer, got ${expectedVersion}`);
      }
      if (events.length > maxEventsPerAppend) {
        throw new RangeError(
          `at most ${maxEventsPerAppend} events fit one atomic append to Cosmos DB, got ${events.length} for stream ${streamId}`,
        );
      }
      const context = { operation: 'append' as const, migrationId, streamId };
      const stored = events.map((event) => ({
        type: event.type,
        at: event.at,
        data: storedData(event.data),
      }));
      for (let attempt = 1; ; attempt++) {
        const outcome = await appendOnce(context, expectedVersion, stored);
        if (outcome !== 'position-moved') return outcome;
        if (attempt >= maxPositionAttempts) {
          throw new CosmosLedgerError(
            context,
            'LEDGER_CONTENTION',
            true,
            `the migration's position counter kept moving (${attempt} attempts)`,
            412,
          );
        }
        await sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
      }
    },

    async readStream(migrationId, streamId, fromSeq = 1) {
      ensureOpen();
      const rows = await query(
        { operation: 'readStream', migrationId, streamId },
        `SELECT c.streamId, c.seq, c.type, c.at, c.data FROM c
         WHERE c.migrationId = @m AND c.kind = 'event' AND c.streamId = @s AND c.seq >= @from
         ORDER BY c.seq`,
        [
          { name: '@s', value: streamId },
          { name: '@from', value: fromSeq },
        ],
      );
      return rows.map((row) => toStoredEvent(migrationId, row));
    },

    async listStreams(migrationId, prefix = '') {
      ensureOpen();
      const byPrefix = prefix === '' ? '' : ' AND STARTSWITH(c.streamId, @p)';
      const rows = await query(
        { operation: 'listStreams', migrationId },
        `SELECT c.streamId, c.version FROM c
         WHERE c.migrationId = @m AND c.kind = 'head'${byPrefix}
         ORDER BY c.streamId`,
        prefix === '' ? [] : [{ name: '@p', value: prefix }],
      );
      return rows.map((row): StreamInfo => streamInfo.parse(row));
    },

    async readAll(migrationId) {
      ensureOpen();
      const rows = await query(
        { operation: 'readAll', migrationId },
        `SELECT c.streamId, c.seq, c.type, c.at, c.data FROM c
         WHERE c.migrationId = @m AND c.kind = 'event'
         ORDER BY c.position`,
        [],
      );
      return rows.map((row) => toStoredEvent(migrationId, row));
    },

    async close() {
      closed = true;
    },
  };
}
