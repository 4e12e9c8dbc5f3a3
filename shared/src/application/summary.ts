/** The migration summary read by `status`, the API and `run`: a projection of the ledger, nothing stored. */
import type { ResourceIssue } from '../contracts/events.ts';
import { type ChunkStatus, isSettled } from '../domain/chunk.ts';
import type { Ledger } from '../ports/ledger.ts';
import { type LoadedChunk, loadChunks, loadMigrationEvents } from './chunk-store.ts';
import { type ControlState, controlStateOf } from './control.ts';
import { listVerifications, type VerificationRun } from './verifications.ts';

export interface ChunkSummary {
  chunkId: string;
  index: number;
  since: string;
  till: string;
  status: ChunkStatus;
  expectedCount: number;
  staged: number;
  imported: number;
  failed: number;
  reason?: string;
}

/** A chunk in flight and how long it has been in its current step. */
export interface RunningChunk {
  chunkId: string;
  status: ChunkStatus;
  since: string;
  till: string;
  expectedCount: number;
  ageSeconds: number;
}

export interface FailureRow extends ResourceIssue {
  chunkId: string;
  stage: 'export' | 'import';
}

export interface TimelinePoint {
  /** When the chunk settled (wall clock). */
  at: string;
  /** The watermark after it: everything before is migrated and verified. */
  watermark: string;
  /** Resources imported up to then (cumulative). */
  imported: number;
}

export interface MigrationSummary {
  migrationId: string;
  started: boolean;
  sourceUrl?: string;
  destinationUrl?: string;
  startAt?: string;
  /** When the migration started (wall clock). */
  startedAt?: string;
  /** Everything before this instant is migrated and verified (or was empty). */
  watermark?: string;
  lagSeconds?: number;
  chunks: { total: number; byStatus: Partial<Record<ChunkStatus, number>> };
  resources: {
    exported: number;
    staged: number;
    rejected: number;
    imported: number;
    failed: number;
    outOfWindow: number;
    deletes: number;
  };
  perType: Record<string, { exported: number; imported: number; failed: number }>;
  /** Chunks that stopped the pipeline, with their reason. */
  halted: { chunkId: string; reason: string }[];
  /** Resources that could not be carried (first 100). */
  failures: ResourceIssue[];
  /** All resources that could not be carried (rejected on export + failed on import). */
  failuresTotal: number;
  running: RunningChunk[];
  /** Seconds until the watermark reaches now at the recent pace, when the migration is catching up. */
  etaSeconds?: number;
  /** The newest verification run that finished (completed or failed). */
  lastVerification?: VerificationRun;
  searchParameters?: { copied: number; unchanged: number; failures: number; reindex: string };
  control: ControlState;
  resourcesPerSecond?: number;
  list: ChunkSummary[];
}

const sum = (r: Record<string, number> | undefined) => Object.values(r ?? {}).reduce((a, b) => a + b, 0);

export async function summarize(ledger: Ledger, migrationId: string, now: Date): Promise<MigrationSummary> {
  // It runs on every status poll: chunks come from the process's folded cache, which reads only what moved.
  const [events, chunks, verifications] = await Promise.all([
    loadMigrationEvents(ledger, migrationId),
    loadChunks(ledger, migrationId),
    listVerifications(ledger, migrationId),
  ]);
  const lastVerification = verifications.find((r) => r.status === 'completed' || r.status === 'failed');
  const started = events.find((e) => e.type === 'MigrationStarted');
  const sp = [...events].reverse().find((e) => e.type === 'SearchParametersCopied');
  const summary: MigrationSummary = {
    migrationId,
    started: !!started,
    chunks: { total: chunks.length, byStatus: {} },
    resources: { exported: 0, staged: 0, rejected: 0, imported: 0, failed: 0, outOfWindow: 0, deletes: 0 },
    perType: {},
    halted: [],
    failures: [],
    failuresTotal: 0,
    running: [],
    ...(lastVerification ? { lastVerification } : {}),
    control: controlStateOf(events),
    list: [],
  };
  if (started?.type === 'MigrationStarted') {
    summary.sourceUrl = started.data.sourceUrl;
    summary.destinationUrl = started.data.destinationUrl;
    summary.startAt = started.data.startAt;
    summary.startedAt = started.at;
    summary.watermark = started.data.startAt;
  }
  if (sp?.type === 'SearchParametersCopied')
    summary.searchParameters = {
      copied: sp.data.copied,
      unchanged: sp.data.unchanged ?? 0,
      failures: sp.data.failures.length,
      reindex: sp.data.reindex,
    };
  let contiguous = true;
  for (const chunk of chunks) {
    const { chunkId, state } = chunk;
    const s = state.status;
    summary.chunks.byStatus[s] = (summary.chunks.byStatus[s] ?? 0) + 1;
    const exp = state.exportResult;
    const imp = state.importResult;
    summary.resources.exported += sum(exp?.exported);
    summary.resources.staged += sum(exp?.staged);
    summary.resources.rejected += exp?.rejected.length ?? 0;
    summary.resources.outOfWindow += exp?.outOfWindow ?? 0;
    summary.resources.imported += sum(imp?.imported);
    summary.resources.failed += sum(imp?.failed);
    summary.resources.deletes += imp?.deletesApplied ?? 0;
    for (const [type, n] of Object.entries(exp?.exported ?? {})) typeRow(summary, type).exported += n;
    for (const [type, n] of Object.entries(imp?.imported ?? {})) typeRow(summary, type).imported += n;
    for (const [type, n] of Object.entries(imp?.failed ?? {})) typeRow(summary, type).failed += n;
    for (const f of [...(exp?.rejected ?? []), ...(imp?.failures ?? [])])
      if (summary.failures.length < 100) summary.failures.push(f);
    summary.failuresTotal += (exp?.rejected.length ?? 0) + (imp?.failures.length ?? 0);
    if (state.plan && s !== 'verified' && s !== 'skipped' && s !== 'failed')
      summary.running.push({
        chunkId,
        status: s,
        since: state.plan.since,
        till: state.plan.till,
        expectedCount: state.plan.expectedCount,
        ageSeconds: ageOf(chunk.lastEventAt, now),
      });
    if (s === 'failed') summary.halted.push({ chunkId, reason: state.failure?.reason ?? 'unknown' });
    if (contiguous && isSettled(state) && state.plan) summary.watermark = state.plan.till;
    else contiguous = false;
    summary.list.push({
      chunkId,
      index: state.plan?.index ?? 0,
      since: state.plan?.since ?? '',
      till: state.plan?.till ?? '',
      status: s,
      expectedCount: state.plan?.expectedCount ?? 0,
      staged: sum(exp?.staged),
      imported: sum(imp?.imported),
      failed: sum(imp?.failed) + (exp?.rejected.length ?? 0),
      ...(state.lastReason ? { reason: state.lastReason } : {}),
    });
  }
  if (summary.watermark)
    summary.lagSeconds = Math.max(0, (now.getTime() - Date.parse(summary.watermark)) / 1000);
  const firstEvent = started?.at;
  if (firstEvent) {
    const seconds = (now.getTime() - Date.parse(firstEvent)) / 1000;
    if (seconds > 0) summary.resourcesPerSecond = summary.resources.imported / seconds;
  }
  const eta = etaSeconds(timelineOf(chunks), now);
  if (eta !== undefined) summary.etaSeconds = eta;
  return summary;
}

const ageOf = (lastEventAt: string | undefined, now: Date): number =>
  lastEventAt ? Math.max(0, (now.getTime() - Date.parse(lastEventAt)) / 1000) : 0;

/** One point per settled chunk, in window order: how the watermark moved against the wall clock. */
export function timelineOf(chunks: readonly LoadedChunk[]): TimelinePoint[] {
  const points: TimelinePoint[] = [];
  let imported = 0;
  let at = '';
  for (const { state, lastEventAt } of chunks) {
    if (!isSettled(state) || !state.plan || !lastEventAt) break;
    imported += sum(state.importResult?.imported);
    // A skipped window settles when planned; a later window may settle before an earlier one is applied.
    at = lastEventAt > at ? lastEventAt : at;
    points.push({ at, watermark: state.plan.till, imported });
  }
  return points;
}

/**
 * Time to catch up at the pace of the last ten minutes of settled chunks: the watermark's lag divided by
 * how much faster than real time the watermark moves. None while it does not gain on the clock.
 */
export function etaSeconds(points: readonly TimelinePoint[], now: Date): number | undefined {
  const last = points[points.length - 1];
  if (!last) return undefined;
  const recent = points.filter((p) => Date.parse(p.at) >= Date.parse(last.at) - 600_000);
  const first = recent[0];
  if (!first || first === last) return undefined;
  const wall = (Date.parse(last.at) - Date.parse(first.at)) / 1000;
  const data = (Date.parse(last.watermark) - Date.parse(first.watermark)) / 1000;
  if (wall <= 0 || data <= wall) return undefined;
  const lag = (now.getTime() - Date.parse(last.watermark)) / 1000;
  return Math.max(0, lag / (data / wall - 1));
}

/** The timeline of a migration (for the dashboard's progress chart). */
export async function timeline(ledger: Ledger, migrationId: string): Promise<TimelinePoint[]> {
  return timelineOf(await loadChunks(ledger, migrationId));
}

/** Resources that could not be carried, with where they failed, in window order. */
export async function failureRows(ledger: Ledger, migrationId: string): Promise<FailureRow[]> {
  const rows: FailureRow[] = [];
  for (const { chunkId, state } of await loadChunks(ledger, migrationId)) {
    for (const f of state.exportResult?.rejected ?? []) rows.push({ ...f, chunkId, stage: 'export' });
    for (const f of state.importResult?.failures ?? []) rows.push({ ...f, chunkId, stage: 'import' });
  }
  return rows;
}

function typeRow(summary: MigrationSummary, type: string) {
  summary.perType[type] ??= { exported: 0, imported: 0, failed: 0 };
  return summary.perType[type];
}
