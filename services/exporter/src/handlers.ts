/**
 * The exporter: kicks off a planned chunk's $export, polls it with scheduled bus messages (never sleeps),
 * stages the files and records ExportCompleted. Every step re-reads the ledger first, so a redelivered
 * message is harmless.
 */
import { executeChunk, loadChunk } from '@fhir-migrate/shared/application/chunk-store.ts';
import {
  jobTimedOut,
  jobTimeoutReason,
  nowIso,
  type PipelineContext,
} from '@fhir-migrate/shared/application/context.ts';
import { isRetryable, reasonOf } from '@fhir-migrate/shared/application/errors.ts';
import { announce, announceFailure, scheduleExportPoll } from '@fhir-migrate/shared/application/publish.ts';
import { countWindowByType } from '@fhir-migrate/shared/application/source-queries.ts';
import {
  type ChunkMessage,
  type ExportPollMessage,
  topics,
} from '@fhir-migrate/shared/contracts/messages.ts';
import type { ChunkState } from '@fhir-migrate/shared/domain/chunk.ts';
import { crashPoint } from '@fhir-migrate/shared/runtime/crash-point.ts';
import { withChunkSpan } from '@fhir-migrate/shared/runtime/tracing.ts';
import { stageExport } from './stage-files.ts';

export async function onChunkPlanned(ctx: PipelineContext, msg: ChunkMessage): Promise<void> {
  const { state } = await loadChunk(ctx.ledger, msg.migrationId, msg.chunkId);
  if (state.status !== 'planned' || !state.plan) return;
  let statusUrl: string;
  try {
    const plan = state.plan;
    ({ statusUrl } = await withChunkSpan('exporter kick off $export', msg, () =>
      ctx.exportDialect.kickOff({ since: plan.since, till: plan.till, types: ctx.config.resourceTypes }),
    ));
  } catch (err) {
    await failExport(ctx, msg.chunkId, err);
    return;
  }
  crashPoint('after-export-kickoff');
  // The job URL is recorded before anything can retry the kick-off.
  const started = await executeChunk(ctx.ledger, msg.migrationId, msg.chunkId, (s) =>
    s.status === 'planned' ? { type: 'StartExport', at: nowIso(ctx), statusUrl } : undefined,
  );
  const event = started.appended[0];
  if (!event) {
    // Another exporter started this chunk first: ours is a duplicate job.
    await ctx.exportDialect
      .cancel(statusUrl)
      .catch((err: unknown) =>
        ctx.log.warn({ chunkId: msg.chunkId, err: reasonOf(err) }, 'cancel of duplicate export failed'),
      );
    return;
  }
  ctx.log.info({ chunkId: msg.chunkId, since: state.plan.since, till: state.plan.till }, 'export started');
  await scheduleExportPoll(ctx, msg.chunkId, statusUrl, 0, undefined);
}

export async function onExportPoll(ctx: PipelineContext, msg: ExportPollMessage): Promise<void> {
  const { state } = await loadChunk(ctx.ledger, msg.migrationId, msg.chunkId);
  if (state.status !== 'exporting' || state.statusUrl !== msg.statusUrl || !state.plan) return;
  let poll: Awaited<ReturnType<PipelineContext['exportDialect']['poll']>>;
  try {
    poll = await ctx.exportDialect.poll(msg.statusUrl);
  } catch (err) {
    // The client has already retried; count an attempt, so a source that stays down fails the chunk with
    // a reason instead of dead-lettering its poll and leaving the chunk stuck.
    await failExport(ctx, msg.chunkId, err);
    return;
  }
  if (poll.state === 'running') {
    crashPoint('export-poll');
    if (jobTimedOut(ctx, state.jobStartedAt)) {
      await ctx.exportDialect
        .cancel(msg.statusUrl)
        .catch((err: unknown) =>
          ctx.log.warn({ chunkId: msg.chunkId, err: reasonOf(err) }, 'cancel of a timed-out export failed'),
        );
      await failExport(
        ctx,
        msg.chunkId,
        new Error(`${jobTimeoutReason('$export', ctx, poll.progress)}; cancelled`),
        true,
      );
      return;
    }
    await scheduleExportPoll(ctx, msg.chunkId, msg.statusUrl, msg.poll + 1, poll.retryAfterMs);
    return;
  }
  if (poll.state === 'failed') {
    await failExport(ctx, msg.chunkId, new Error(`export job failed: ${poll.reason}`), true);
    return;
  }
  let result: Awaited<ReturnType<typeof stageExport>>;
  try {
    const { plan } = state;
    const manifest = poll.manifest;
    result = await withChunkSpan('exporter stage files', msg, () =>
      stageExport(ctx, msg.chunkId, plan, manifest, msg.statusUrl),
    );
  } catch (err) {
    // A download cut short, or staging that failed: the next attempt exports and stages afresh.
    await failExport(ctx, msg.chunkId, err);
    return;
  }
  let shortfall: string | undefined;
  try {
    shortfall = await exportShortfall(ctx, state.plan, result.exported);
  } catch (err) {
    await failExport(ctx, msg.chunkId, err);
    return;
  }
  if (shortfall) {
    await failExport(ctx, msg.chunkId, new Error(shortfall), true);
    return;
  }
  const done = await executeChunk(ctx.ledger, msg.migrationId, msg.chunkId, (s) =>
    s.status === 'exporting' && s.statusUrl === msg.statusUrl
      ? { type: 'CompleteExport', at: nowIso(ctx), result }
      : undefined,
  );
  const event = done.appended[0];
  if (!event) return;
  const staged = Object.values(result.staged).reduce((a, b) => a + b, 0);
  ctx.log.info(
    { chunkId: msg.chunkId, staged, rejected: result.rejected.length, files: result.files.length },
    'export completed',
  );
  await announce(ctx, topics.exportCompleted, msg.chunkId, event.id);
}

async function failExport(
  ctx: PipelineContext,
  chunkId: string,
  err: unknown,
  retryable = isRetryable(err),
): Promise<void> {
  const reason = reasonOf(err);
  const result = await executeChunk(ctx.ledger, ctx.config.migrationId, chunkId, (s: ChunkState) =>
    s.status === 'planned' || s.status === 'exporting'
      ? { type: 'FailExport', at: nowIso(ctx), reason, retryable, maxAttempts: ctx.config.maxAttempts }
      : undefined,
  );
  const last = result.appended[result.appended.length - 1];
  if (!last) return;
  ctx.log.warn(
    { chunkId, reason, attempt: result.after.exportAttempts, status: result.after.status },
    'export failed',
  );
  await announceFailure(
    ctx,
    chunkId,
    last.id,
    result.after.status === 'planned'
      ? { topic: topics.chunkPlanned, attempts: result.after.exportAttempts }
      : undefined,
  );
}

/**
 * Whether the export delivered less than the source holds in the window now. Writes cannot land in a
 * window that is already in the past (lastUpdated is the server's clock), and updates and deletions only
 * take resources out of it, so for every type the lines delivered must be at least today's count. Fewer
 * means files were lost, cut or emptied on the way: the export is made again rather than migrated short.
 */
async function exportShortfall(
  ctx: PipelineContext,
  window: { since: string; till: string },
  delivered: Record<string, number>,
): Promise<string | undefined> {
  const counts = await countWindowByType(ctx, {
    since: Date.parse(window.since),
    till: Date.parse(window.till),
  });
  const short = Object.entries(counts)
    .filter(([type, count]) => (delivered[type] ?? 0) < count)
    .map(([type, count]) => `${type} ${delivered[type] ?? 0} of ${count}`);
  return short.length > 0
    ? `the export delivered fewer resources than the source holds in the window: ${short.join(', ')}`
    : undefined;
}
