/**
 * The importer: applies chunks to the destination strictly in window order (chunk N only after every
 * earlier chunk is applied), through the destination's $import or REST batches. A failed $import job
 * falls back to REST for that chunk, which names each refused resource with its staged file and line.
 */
import {
  executeChunk,
  type LoadedChunk,
  loadChunk,
  loadChunks,
} from '@fhir-migrate/shared/application/chunk-store.ts';
import {
  jobTimedOut,
  jobTimeoutReason,
  nowIso,
  type PipelineContext,
} from '@fhir-migrate/shared/application/context.ts';
import { isRetryable, reasonOf, sanitizeReason } from '@fhir-migrate/shared/application/errors.ts';
import { announce, announceFailure, scheduleImportPoll } from '@fhir-migrate/shared/application/publish.ts';
import type { ChunkEventData } from '@fhir-migrate/shared/contracts/events.ts';
import { type ImportPollMessage, topics } from '@fhir-migrate/shared/contracts/messages.ts';
import { isApplied } from '@fhir-migrate/shared/domain/chunk.ts';
import { crashPoint } from '@fhir-migrate/shared/runtime/crash-point.ts';
import { withChunkSpan } from '@fhir-migrate/shared/runtime/tracing.ts';
import { applyChunkRest, applyDeletions } from './apply-rest.ts';
import { resultFromErrorFiles } from './import-errors.ts';

/** Staging URLs handed to the destination stay valid this long (a slow import may fetch late). */
const stagingUrlLifetimeMs = 24 * 3_600_000;

/** On export-completed and import-completed: start the first chunk that is not yet applied, if it is ready. */
export async function startNextImport(ctx: PipelineContext): Promise<void> {
  const chunks = await loadChunks(ctx.ledger, ctx.config.migrationId);
  const next = chunks.find((c) => !isApplied(c.state));
  if (!next) return;
  const chunk = chunkRef(ctx, next.chunkId);
  // The next chunk may not be the one whose message is handled: its work joins its own trace.
  if (next.state.status === 'exported')
    await withChunkSpan('importer start import', chunk, () => startImport(ctx, next));
  else if (next.state.status === 'importing' && next.state.importMode === 'rest') {
    // A REST import that a crashed process left behind: PUTs are idempotent, so run it again.
    if (isOrphaned(ctx, next))
      await withChunkSpan('importer resume REST import', chunk, () => runRest(ctx, next.chunkId));
  }
}

async function startImport(ctx: PipelineContext, chunk: LoadedChunk): Promise<void> {
  const files = chunk.state.exportResult?.files.filter((f) => f.lines > 0) ?? [];
  if (!ctx.bulkImport || files.length === 0) {
    const started = await executeChunk(ctx.ledger, ctx.config.migrationId, chunk.chunkId, (s) =>
      s.status === 'exported' ? { type: 'StartImport', at: nowIso(ctx), mode: 'rest' } : undefined,
    );
    if (started.appended.length > 0) await runRest(ctx, chunk.chunkId);
    return;
  }
  let jobUrl: string;
  try {
    const inputs = await Promise.all(
      files.map(async (f) => ({
        type: f.type,
        url: await ctx.staging.urlFor(f.key, { expiresInMs: stagingUrlLifetimeMs }),
      })),
    );
    const bulkImport = ctx.bulkImport;
    ({ jobUrl } = await withChunkSpan('importer submit $import', chunkRef(ctx, chunk.chunkId), () =>
      bulkImport.submit(inputs),
    ));
  } catch (err) {
    await failImport(ctx, chunk.chunkId, err);
    return;
  }
  crashPoint('after-import-submit');
  const started = await executeChunk(ctx.ledger, ctx.config.migrationId, chunk.chunkId, (s) =>
    s.status === 'exported' ? { type: 'StartImport', at: nowIso(ctx), mode: 'bulk', jobUrl } : undefined,
  );
  if (started.appended.length === 0) return; // another importer got there first; re-applying is harmless
  ctx.log.info({ chunkId: chunk.chunkId, files: files.length }, 'import job submitted');
  await scheduleImportPoll(ctx, chunk.chunkId, jobUrl, 0, undefined);
}

export async function onImportPoll(ctx: PipelineContext, msg: ImportPollMessage): Promise<void> {
  const { state } = await loadChunk(ctx.ledger, msg.migrationId, msg.chunkId);
  if (state.status !== 'importing' || state.jobUrl !== msg.jobUrl || !ctx.bulkImport) return;
  let poll: Awaited<ReturnType<NonNullable<PipelineContext['bulkImport']>['poll']>>;
  try {
    poll = await ctx.bulkImport.poll(msg.jobUrl);
  } catch (err) {
    // The client has already retried: handle it as a failed job (REST fallback, attempts counted).
    poll = { state: 'failed', reason: reasonOf(err) };
  }
  if (poll.state === 'running' && jobTimedOut(ctx, state.jobStartedAt)) {
    // Treated like a failed job: REST re-applies the chunk (idempotent PUTs), attempts counted.
    poll = { state: 'failed', reason: jobTimeoutReason('$import', ctx) };
  }
  if (poll.state === 'running') {
    crashPoint('import-poll');
    await scheduleImportPoll(ctx, msg.chunkId, msg.jobUrl, msg.poll + 1, poll.retryAfterMs);
    return;
  }
  const totals = reportTotals(poll.report);
  const staged = Object.values(state.exportResult?.staged ?? {}).reduce((a, b) => a + b, 0);
  if (poll.state === 'completed' && totals.failed === 0 && totals.succeeded === staged) {
    // Every staged resource is accounted for as stored.
    const deletesApplied = await applyDeletions(ctx, state.exportResult?.deletions ?? []);
    const result = {
      imported: { ...(state.exportResult?.staged ?? {}) },
      failed: {},
      failures: [],
      deletesApplied,
    };
    await complete(ctx, msg.chunkId, result, (s) => s.status === 'importing' && s.jobUrl === msg.jobUrl);
    return;
  }
  // A partial success whose refused resources are listed in error files (AHDS) is recorded as it is.
  const readErrors = ctx.bulkImport.readErrors?.bind(ctx.bulkImport);
  if (poll.state === 'completed' && totals.failed > 0 && readErrors) {
    const files = state.exportResult?.files.filter((f) => f.lines > 0) ?? [];
    const fromFiles = await resultFromErrorFiles(poll.report, files, readErrors).catch((err: unknown) => {
      ctx.log.warn(
        { chunkId: msg.chunkId, reason: reasonOf(err) },
        'the import error files could not be read',
      );
      return undefined;
    });
    if (fromFiles) {
      const deletesApplied = await applyDeletions(ctx, state.exportResult?.deletions ?? []);
      await complete(
        ctx,
        msg.chunkId,
        { ...fromFiles, deletesApplied },
        (s) => s.status === 'importing' && s.jobUrl === msg.jobUrl,
      );
      return;
    }
  }
  // A failed job may be partly applied, and a report that does not account for every resource cannot say
  // which one failed: REST re-applies every resource (idempotent PUTs) and names each one refused.
  const reason =
    poll.state === 'failed'
      ? sanitizeReason(`$import job failed: ${poll.reason}`)
      : `$import report accounts for ${totals.succeeded} stored + ${totals.failed} failed of ${staged} staged`;
  if (carriesVersions(ctx)) {
    // REST writes one current version per id: it would lose history, and could write an older version or a
    // soft-deleted one over the newest. Such a chunk goes through $import again (attempts counted).
    await failImport(
      ctx,
      msg.chunkId,
      new Error(
        `${reason}; the chunk holds history or soft-deleted versions, which only $import carries, so it is not applied through REST`,
      ),
    );
    return;
  }
  ctx.log.warn({ chunkId: msg.chunkId, reason }, 'applying the chunk through REST instead');
  const failed = await executeChunk(ctx.ledger, msg.migrationId, msg.chunkId, (s) =>
    s.status === 'importing' && s.jobUrl === msg.jobUrl
      ? { type: 'FailImport', at: nowIso(ctx), reason, retryable: true, maxAttempts: ctx.config.maxAttempts }
      : undefined,
  );
  if (failed.after.status !== 'exported') return;
  const started = await executeChunk(ctx.ledger, msg.migrationId, msg.chunkId, (s) =>
    s.status === 'exported' ? { type: 'StartImport', at: nowIso(ctx), mode: 'rest' } : undefined,
  );
  if (started.appended.length > 0) await runRest(ctx, msg.chunkId);
}

/** Whether exported files may hold several versions of a resource, or soft-deleted ones (Azure $export). */
function carriesVersions(ctx: PipelineContext): boolean {
  const { exportDialect, azureExport } = ctx.config.source;
  return exportDialect === 'azure' && (azureExport.includeHistory || azureExport.includeDeleted);
}

function reportTotals(report: { files: { succeeded: number; failed: number }[] } | undefined) {
  const files = report?.files ?? [];
  return {
    succeeded: files.reduce((n, f) => n + f.succeeded, 0),
    failed: files.reduce((n, f) => n + f.failed, 0),
  };
}

async function runRest(ctx: PipelineContext, chunkId: string): Promise<void> {
  const { state } = await loadChunk(ctx.ledger, ctx.config.migrationId, chunkId);
  if (state.status !== 'importing' || state.importMode !== 'rest') return;
  let result: ChunkEventData<'ImportCompleted'>;
  try {
    result = await withChunkSpan('importer apply REST batches', chunkRef(ctx, chunkId), () =>
      applyChunkRest(ctx, state),
    );
  } catch (err) {
    await failImport(ctx, chunkId, err);
    return;
  }
  await complete(ctx, chunkId, result, (s) => s.status === 'importing' && s.importMode === 'rest');
}

async function complete(
  ctx: PipelineContext,
  chunkId: string,
  result: ChunkEventData<'ImportCompleted'>,
  stillOurs: (s: LoadedChunk['state']) => boolean,
): Promise<void> {
  const done = await executeChunk(ctx.ledger, ctx.config.migrationId, chunkId, (s) =>
    stillOurs(s) ? { type: 'CompleteImport', at: nowIso(ctx), result } : undefined,
  );
  const event = done.appended[0];
  if (!event) return;
  const imported = Object.values(result.imported).reduce((a, b) => a + b, 0);
  ctx.log.info(
    { chunkId, imported, failed: result.failures.length, deletes: result.deletesApplied },
    'import completed',
  );
  await announce(ctx, topics.importCompleted, chunkId, event.id);
}

async function failImport(ctx: PipelineContext, chunkId: string, err: unknown): Promise<void> {
  const reason = reasonOf(err);
  const result = await executeChunk(ctx.ledger, ctx.config.migrationId, chunkId, (s) =>
    s.status === 'importing' || s.status === 'exported'
      ? {
          type: 'FailImport',
          at: nowIso(ctx),
          reason,
          retryable: isRetryable(err),
          maxAttempts: ctx.config.maxAttempts,
        }
      : undefined,
  );
  const last = result.appended[result.appended.length - 1];
  if (!last) return;
  ctx.log.warn({ chunkId, reason, status: result.after.status }, 'import failed');
  await announceFailure(
    ctx,
    chunkId,
    last.id,
    result.after.status === 'exported'
      ? { topic: topics.exportCompleted, attempts: result.after.importAttempts }
      : undefined,
  );
}

const chunkRef = (ctx: PipelineContext, chunkId: string) => ({
  migrationId: ctx.config.migrationId,
  chunkId,
});

/** A REST import is orphaned when its last event is older than the bus lock: no live handler is on it. */
function isOrphaned(ctx: PipelineContext, chunk: LoadedChunk): boolean {
  return !!chunk.lastEventAt && ctx.now().getTime() - Date.parse(chunk.lastEventAt) > 10 * 60_000;
}
