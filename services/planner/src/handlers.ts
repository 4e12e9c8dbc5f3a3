/**
 * The planner: starts a migration (copies SearchParameters, finds where the data starts), then plans
 * windows — the moment an export or import completes, never on a cron — keeping at most `exportAhead`
 * chunks in flight ahead of the one being imported. Caught up, it looks again every `pollInterval`.
 */
import {
  chunkIdOf,
  executeChunk,
  loadChunks,
  loadMigrationEvents,
  migrationStreamId,
} from '@fhir-migrate/shared/application/chunk-store.ts';
import { nowIso, type PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { controlStateOf } from '@fhir-migrate/shared/application/control.ts';
import { announce } from '@fhir-migrate/shared/application/publish.ts';
import { earliestLastUpdated, typesToMigrate } from '@fhir-migrate/shared/application/source-queries.ts';
import { topics } from '@fhir-migrate/shared/contracts/messages.ts';
import type { MigrationEvent } from '@fhir-migrate/shared/contracts/migration-events.ts';
import { isApplied } from '@fhir-migrate/shared/domain/chunk.ts';
import { iso } from '@fhir-migrate/shared/domain/window.ts';
import { LedgerConflictError } from '@fhir-migrate/shared/ports/ledger.ts';
import { crashPoint } from '@fhir-migrate/shared/runtime/crash-point.ts';
import { withChunkSpan } from '@fhir-migrate/shared/runtime/tracing.ts';
import { nextCountedWindow, type WindowHint } from './next-window.ts';
import { copySearchParameters } from './search-parameters.ts';

export type PlannerStatus =
  | { kind: 'planning'; inFlight: number }
  | { kind: 'caught-up'; watermark: string }
  | { kind: 'halted'; reason: string }
  | { kind: 'paused' | 'stopped' };

/** Records MigrationStarted and copies SearchParameters once per migration (idempotent). */
export async function ensureStarted(ctx: PipelineContext): Promise<MigrationEvent[]> {
  let events = await loadMigrationEvents(ctx.ledger, ctx.config.migrationId);
  if (!events.some((e) => e.type === 'MigrationStarted')) {
    const configured = ctx.config.startDate ? Date.parse(ctx.config.startDate) : undefined;
    const earliest = configured ?? (await earliestLastUpdated(ctx));
    // An empty source starts at the horizon and follows new writes from there.
    const startAt = earliest ?? ctx.now().getTime() - ctx.config.safetyLag;
    const started: MigrationEvent = {
      type: 'MigrationStarted',
      at: nowIso(ctx),
      data: {
        sourceUrl: ctx.source.baseUrl,
        destinationUrl: ctx.destination.baseUrl,
        exportDialect: ctx.config.source.exportDialect,
        importDialect: ctx.config.destination.importDialect,
        startAt: iso(startAt),
        resourceTypes: await typesToMigrate(ctx),
      },
    };
    await appendMigration(ctx, events.length, [started]);
    events = await loadMigrationEvents(ctx.ledger, ctx.config.migrationId);
  }
  if (!events.some((e) => e.type === 'SearchParametersCopied')) {
    const copied = await copySearchParameters(ctx);
    ctx.log.info(
      { copied: copied.copied, failures: copied.failures.length, reindex: copied.reindex },
      'search parameters copied',
    );
    await appendMigration(ctx, events.length, [
      { type: 'SearchParametersCopied', at: nowIso(ctx), data: copied },
    ]);
    events = await loadMigrationEvents(ctx.ledger, ctx.config.migrationId);
  }
  return events;
}

async function appendMigration(
  ctx: PipelineContext,
  version: number,
  events: MigrationEvent[],
): Promise<void> {
  try {
    await ctx.ledger.append(ctx.config.migrationId, migrationStreamId, version, events);
  } catch (err) {
    if (!(err instanceof LedgerConflictError)) throw err; // another planner recorded it first
  }
}

/** Plans as many chunks as may be in flight; returns where the migration stands. */
export async function planMore(ctx: PipelineContext): Promise<PlannerStatus> {
  const events = await ensureStarted(ctx);
  const control = controlStateOf(events);
  if (control !== 'running') return { kind: control };
  const started = events.find((e) => e.type === 'MigrationStarted');
  if (started?.type !== 'MigrationStarted') throw new Error('migration has no MigrationStarted event');

  for (let conflicts = 0; conflicts < 20; conflicts++) {
    const chunks = await loadChunks(ctx.ledger, ctx.config.migrationId);
    const failed = chunks.find((c) => c.state.status === 'failed');
    if (failed)
      return {
        kind: 'halted',
        reason: `chunk ${failed.chunkId} failed: ${failed.state.failure?.reason ?? 'unknown'}`,
      };
    let inFlight = chunks.filter((c) => !isApplied(c.state)).length;
    const last = chunks[chunks.length - 1]?.state.plan;
    let watermark = last ? Date.parse(last.till) : Date.parse(started.data.startAt);
    let index = (last?.index ?? 0) + 1;
    let hint: WindowHint | undefined = last
      ? { widthMs: Date.parse(last.till) - Date.parse(last.since), count: last.expectedCount }
      : undefined;
    try {
      while (inFlight < ctx.config.exportAhead + 1) {
        const planned = await planOne(ctx, watermark, index, hint);
        if (!planned) return inFlight > 0 ? { kind: 'planning', inFlight } : await caughtUp(ctx, watermark);
        hint = { widthMs: planned.window.till - planned.window.since, count: planned.count };
        watermark = planned.window.till;
        index++;
        if (!planned.skipped) inFlight++;
      }
      return { kind: 'planning', inFlight };
    } catch (err) {
      if (err instanceof LedgerConflictError) continue; // another planner planned this index: reload
      throw err;
    }
  }
  throw new Error('planner kept conflicting with other planners');
}

async function planOne(ctx: PipelineContext, watermark: number, index: number, hint?: WindowHint) {
  const next = await nextCountedWindow(ctx, watermark, ctx.now().getTime(), hint);
  if (!next || next.emptyAtHorizon) return undefined;
  const { window, count } = next;
  const chunkId = chunkIdOf(index);
  const plannedAt = Date.now();
  const result = await executeChunk(
    ctx.ledger,
    ctx.config.migrationId,
    chunkId,
    (s) =>
      s.status === 'initial'
        ? {
            type: 'Plan',
            at: nowIso(ctx),
            chunkId,
            index,
            since: iso(window.since),
            till: iso(window.till),
            expectedCount: count,
          }
        : undefined,
    1,
  );
  const event = result.appended[0];
  // Another planner planned this index first: its root span is the chunk's, so none is opened here.
  if (!event) throw new LedgerConflictError(ctx.config.migrationId, chunkId, 0);
  const skipped = result.after.status === 'skipped';
  // Each chunk is its own trace: everything downstream of chunk-planned joins this root.
  await withChunkSpan(
    'planner plan chunk',
    { migrationId: ctx.config.migrationId, chunkId },
    async () => {
      ctx.log.info(
        { chunkId, since: iso(window.since), till: iso(window.till), count, skipped },
        skipped ? 'empty window skipped' : 'chunk planned',
      );
      if (!skipped) crashPoint('after-plan');
      if (!skipped) await announce(ctx, topics.chunkPlanned, chunkId, event.id);
    },
    {
      root: true,
      startTime: plannedAt,
      attributes: {
        'fhir_migrate.chunk.index': index,
        'fhir_migrate.chunk.expected_count': count,
        'fhir_migrate.chunk.skipped': skipped,
      },
    },
  );
  return { window, count, skipped };
}

async function caughtUp(ctx: PipelineContext, watermark: number): Promise<PlannerStatus> {
  // One follow-up look per poll interval: the id dedupes the ticks that several events would schedule.
  const slot = Math.floor(ctx.now().getTime() / ctx.config.pollInterval);
  await ctx.bus.publish(topics.planTick, [
    {
      id: `${topics.planTick}:${ctx.config.migrationId}:${slot}`,
      body: { schemaVersion: 1, migrationId: ctx.config.migrationId, reason: 'poll' },
      deliverAt: new Date((slot + 1) * ctx.config.pollInterval),
    },
  ]);
  return { kind: 'caught-up', watermark: iso(watermark) };
}
