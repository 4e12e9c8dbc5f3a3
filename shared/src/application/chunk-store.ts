/**
 * Read a chunk's stream → decide → append at the expected version → (caller publishes). Conflicts mean
 * another process moved the chunk first: reload and decide again. Nothing else is retried here.
 */
import { parseChunkEvent } from '../contracts/events.ts';
import { type MigrationEvent, parseMigrationEvent } from '../contracts/migration-events.ts';
import {
  type ChunkCommand,
  type ChunkState,
  decide,
  evolve,
  foldChunk,
  initialChunkState,
} from '../domain/chunk.ts';
import { type Ledger, LedgerConflictError, type StoredEvent } from '../ports/ledger.ts';
import { recordChunkFacts } from '../runtime/metrics.ts';

export const migrationStreamId = 'migration';
const chunkPrefix = 'chunk-';

export const chunkIdOf = (index: number): string => `${chunkPrefix}${String(index).padStart(6, '0')}`;

export interface LoadedChunk {
  chunkId: string;
  state: ChunkState;
  version: number;
  /** Id of the stream's last event: the fact the chunk's current step was announced under. */
  lastEventId?: string;
  /** When the stream's last event happened. */
  lastEventAt?: string;
}

export async function loadChunk(ledger: Ledger, migrationId: string, chunkId: string): Promise<LoadedChunk> {
  const events = await ledger.readStream(migrationId, chunkId);
  return loaded(chunkId, events);
}

/** Per process and ledger: each migration's chunks as last folded. */
const chunkCaches = new WeakMap<Ledger, Map<string, Map<string, LoadedChunk>>>();

/** Past this many moved streams one whole read is cheaper than a read per stream. */
const fullReadThreshold = 256;

/**
 * Every chunk of a migration in window order. Each process keeps the chunks folded and, on each call, reads
 * only the streams whose version moved since (one listStreams, then readStream from the cached version):
 * reading and folding the whole ledger took 1.7 s at 15,600 chunks here (npm run bench:ledger), and the
 * planner, the importer and the status summary did it on every step. Other processes' appends show up,
 * since every call asks the ledger which streams moved.
 */
export async function loadChunks(ledger: Ledger, migrationId: string): Promise<LoadedChunk[]> {
  let byMigration = chunkCaches.get(ledger);
  if (!byMigration) {
    byMigration = new Map();
    chunkCaches.set(ledger, byMigration);
  }
  let cache = byMigration.get(migrationId);
  if (!cache) {
    cache = new Map();
    byMigration.set(migrationId, cache);
  }
  const streams = await ledger.listStreams(migrationId, chunkPrefix);
  const moved = streams.filter((s) => cache.get(s.streamId)?.version !== s.version);
  if (moved.length > fullReadThreshold) {
    cache.clear();
    for (const chunk of chunksOf(await ledger.readAll(migrationId))) cache.set(chunk.chunkId, chunk);
  } else {
    for (const { streamId } of moved) {
      const cached = cache.get(streamId);
      const events = await ledger.readStream(migrationId, streamId, (cached?.version ?? 0) + 1);
      const last = events[events.length - 1];
      if (!last) continue;
      cache.set(streamId, {
        chunkId: streamId,
        state: events.map(parseChunkEvent).reduce(evolve, cached?.state ?? initialChunkState),
        version: last.seq,
        lastEventId: last.id,
        lastEventAt: last.at,
      });
    }
  }
  return [...cache.values()].sort((a, b) => (a.state.plan?.index ?? 0) - (b.state.plan?.index ?? 0));
}

/** The chunks among a migration's events (from `Ledger.readAll`), folded, in window order. */
export function chunksOf(events: readonly StoredEvent[]): LoadedChunk[] {
  return [...streamsOf(events, chunkPrefix).entries()]
    .map(([chunkId, stream]) => loaded(chunkId, stream))
    .sort((a, b) => (a.state.plan?.index ?? 0) - (b.state.plan?.index ?? 0));
}

/** A migration's events grouped by stream (those whose id starts with `prefix`), each in seq order. */
export function streamsOf(events: readonly StoredEvent[], prefix: string): Map<string, StoredEvent[]> {
  const byStream = new Map<string, StoredEvent[]>();
  for (const e of events) {
    if (!e.streamId.startsWith(prefix)) continue;
    const list = byStream.get(e.streamId) ?? [];
    list.push(e);
    byStream.set(e.streamId, list);
  }
  for (const list of byStream.values()) list.sort((a, b) => a.seq - b.seq);
  return byStream;
}

function loaded(chunkId: string, events: StoredEvent[]): LoadedChunk {
  const last = events[events.length - 1];
  return {
    chunkId,
    state: foldChunk(events.map(parseChunkEvent)),
    version: events.length,
    ...(last ? { lastEventId: last.id, lastEventAt: last.at } : {}),
  };
}

export async function loadMigrationEvents(ledger: Ledger, migrationId: string): Promise<MigrationEvent[]> {
  return (await ledger.readStream(migrationId, migrationStreamId)).map(parseMigrationEvent);
}

export interface Executed {
  before: ChunkState;
  after: ChunkState;
  /** Events this call appended (empty when the command was already applied). */
  appended: StoredEvent[];
}

/**
 * Decides `commandFor(state)` against the chunk's current state and appends the result. `commandFor` may
 * return undefined to do nothing (e.g. the chunk moved on). Retries on ledger conflicts only.
 */
export async function executeChunk(
  ledger: Ledger,
  migrationId: string,
  chunkId: string,
  commandFor: (state: ChunkState) => ChunkCommand | undefined,
  maxConflicts = 10,
): Promise<Executed> {
  for (let attempt = 1; ; attempt++) {
    const { state, version } = await loadChunk(ledger, migrationId, chunkId);
    const command = commandFor(state);
    if (!command) return { before: state, after: state, appended: [] };
    const events = decide(command, state);
    if (events.length === 0) return { before: state, after: state, appended: [] };
    try {
      const appended = await ledger.append(migrationId, chunkId, version, events);
      const after = events.reduce(evolve, state);
      recordChunkFacts(migrationId, appended, after);
      return { before: state, after, appended };
    } catch (err) {
      if (err instanceof LedgerConflictError && attempt < maxConflicts) continue;
      throw err;
    }
  }
}

export { initialChunkState };
