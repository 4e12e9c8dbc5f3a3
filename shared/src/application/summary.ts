/** The migration summary read by `status`, the API and `run`: a projection of the ledger, nothing stored. */
import type { ResourceIssue } from '../contracts/events.ts';
import { type ChunkStatus, isSettled } from '../domain/chunk.ts';
import type { Ledger } from '../ports/ledger.ts';
import { loadChunks, loadMigrationEvents } from './chunk-store.ts';

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

export interface MigrationSummary {
  migrationId: string;
  started: boolean;
  sourceUrl?: string;
  destinationUrl?: string;
  startAt?: string;
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
  searchParameters?: { copied: number; failures: number; reindex: string };
  control: 'running' | 'paused' | 'stopped';
  resourcesPerSecond?: number;
  list: ChunkSummary[];
}

const sum = (r: Record<string, number> | undefined) => Object.values(r ?? {}).reduce((a, b) => a + b, 0);

export async function summarize(ledger: Ledger, migrationId: string, now: Date): Promise<MigrationSummary> {
  const events = await loadMigrationEvents(ledger, migrationId);
  const chunks = await loadChunks(ledger, migrationId);
  const started = events.find((e) => e.type === 'MigrationStarted');
  const sp = [...events].reverse().find((e) => e.type === 'SearchParametersCopied');
  const control = [...events]
    .reverse()
    .find(
      (e) => e.type === 'MigrationPaused' || e.type === 'MigrationResumed' || e.type === 'MigrationStopped',
    );
  const summary: MigrationSummary = {
    migrationId,
    started: !!started,
    chunks: { total: chunks.length, byStatus: {} },
    resources: { exported: 0, staged: 0, rejected: 0, imported: 0, failed: 0, outOfWindow: 0, deletes: 0 },
    perType: {},
    halted: [],
    failures: [],
    control:
      control?.type === 'MigrationPaused'
        ? 'paused'
        : control?.type === 'MigrationStopped'
          ? 'stopped'
          : 'running',
    list: [],
  };
  if (started?.type === 'MigrationStarted') {
    summary.sourceUrl = started.data.sourceUrl;
    summary.destinationUrl = started.data.destinationUrl;
    summary.startAt = started.data.startAt;
    summary.watermark = started.data.startAt;
  }
  if (sp?.type === 'SearchParametersCopied')
    summary.searchParameters = {
      copied: sp.data.copied,
      failures: sp.data.failures.length,
      reindex: sp.data.reindex,
    };
  let contiguous = true;
  for (const { chunkId, state } of chunks) {
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
  return summary;
}

function typeRow(summary: MigrationSummary, type: string) {
  summary.perType[type] ??= { exported: 0, imported: 0, failed: 0 };
  return summary.perType[type];
}
