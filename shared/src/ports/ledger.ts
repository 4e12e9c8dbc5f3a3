/**
 * The event-sourced ledger: one ordered stream of events per chunk (and one per migration), appended with
 * optimistic concurrency. Adapters: SQLite (embedded), Cosmos DB (Azure). Contract: testing/ledger-contract.ts.
 */

/** An event as stored: its id is `${streamId}:${seq}`, which makes a second writer of the same seq collide. */
export interface StoredEvent {
  id: string;
  migrationId: string;
  streamId: string;
  /** 1-based position in its stream. */
  seq: number;
  type: string;
  /** ISO-8601 instant, supplied by the caller (the domain never reads a clock). */
  at: string;
  data: unknown;
}

export interface NewEvent {
  type: string;
  at: string;
  data: unknown;
}

export interface StreamInfo {
  streamId: string;
  /** seq of the stream's last event. */
  version: number;
}

/** Thrown by append when the stream's version is not the expected one; reload, re-decide, retry. */
export class LedgerConflictError extends Error {
  readonly code = 'LEDGER_CONFLICT';
  constructor(
    readonly migrationId: string,
    readonly streamId: string,
    readonly expectedVersion: number,
  ) {
    super(
      `ledger conflict: stream ${streamId} of migration ${migrationId} is no longer at version ${expectedVersion}`,
    );
    this.name = 'LedgerConflictError';
  }
}

export interface Ledger {
  /**
   * Appends events after `expectedVersion` (0 for a new stream), all or nothing. Resolves to the stored
   * events. Rejects with {@link LedgerConflictError} if another writer got there first.
   */
  append(
    migrationId: string,
    streamId: string,
    expectedVersion: number,
    events: readonly NewEvent[],
  ): Promise<StoredEvent[]>;
  /** The stream's events in seq order, from `fromSeq` (default 1); empty if the stream does not exist. */
  readStream(migrationId: string, streamId: string, fromSeq?: number): Promise<StoredEvent[]>;
  /** Streams of a migration whose id starts with `prefix` (all when omitted), ordered by streamId. */
  listStreams(migrationId: string, prefix?: string): Promise<StreamInfo[]>;
  /** Every event of a migration in append order (for projections such as the status summary). */
  readAll(migrationId: string): Promise<StoredEvent[]>;
  close(): Promise<void>;
}
