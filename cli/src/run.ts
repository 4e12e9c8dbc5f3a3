/**
 * `fhir-migrate run` (all services in one process) and `fhir-migrate service <name>` (one of them).
 * With --until-caught-up, run returns once every window up to now − safetyLag is imported and verified.
 */
import { exporterHandlers } from '@fhir-migrate/exporter/src/index.ts';
import { importerHandlers } from '@fhir-migrate/importer/src/index.ts';
import { type PlannerStatus, plannerHandlers } from '@fhir-migrate/planner/src/index.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { reasonOf } from '@fhir-migrate/shared/application/errors.ts';
import { reannounceOpenChunks } from '@fhir-migrate/shared/application/recovery.ts';
import { type MigrationSummary, summarize } from '@fhir-migrate/shared/application/summary.ts';
import { declareTopology } from '@fhir-migrate/shared/application/topology.ts';
import type { MigrationConfig } from '@fhir-migrate/shared/config/schema.ts';
import { topics } from '@fhir-migrate/shared/contracts/messages.ts';
import type { Subscription } from '@fhir-migrate/shared/ports/bus.ts';
import { type HandlerSpec, type ServiceOptions, startService } from '@fhir-migrate/shared/runtime/service.ts';
import { verifierHandlers } from '@fhir-migrate/verifier/src/index.ts';
import type { Logger } from 'pino';
import { startApi } from './api.ts';
import { compose } from './compose.ts';

export type PipelineService = 'planner' | 'exporter' | 'importer' | 'verifier';

export interface RunOptions {
  services: readonly PipelineService[];
  untilCaughtUp: boolean;
  /** Progress lines on stderr (default true). */
  progress?: boolean;
  serviceOptions?: ServiceOptions;
  /** Serve the status API and dashboard (when the configuration allows: serveApi). */
  api?: boolean;
  /** Resolves when the run should stop (signals); default: SIGINT/SIGTERM. */
  stopSignal?: Promise<void>;
}

export interface RunResult {
  summary: MigrationSummary;
  exitCode: number;
  reason: string;
}

export async function runPipeline(
  config: MigrationConfig,
  log: Logger,
  options: RunOptions,
): Promise<RunResult> {
  const composed = await compose(config, log);
  const { ctx } = composed;
  try {
    await preflight(ctx);
  } catch (err) {
    await composed.close();
    throw err;
  }
  let planner: PlannerStatus | undefined;
  const specs: Record<PipelineService, readonly HandlerSpec[]> = {
    planner: plannerHandlers((s) => {
      planner = s;
    }),
    exporter: exporterHandlers,
    importer: importerHandlers,
    verifier: verifierHandlers,
  };
  const subscriptions: Subscription[] = [];
  let api: { close(): Promise<void> } | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await api?.close();
    await Promise.all(subscriptions.map((s) => s.close()));
    await composed.close();
  };
  try {
    await declareTopology(ctx.bus);
    for (const name of options.services)
      subscriptions.push(...(await startService(ctx, name, specs[name], options.serviceOptions)));
    if (options.services.includes('planner')) await kickOff(ctx);
    if (options.api && config.serveApi) api = await startApi(ctx, log);
    const progress =
      options.progress === false ? undefined : setInterval(() => void reportProgress(ctx), 2000);
    try {
      const outcome = await waitForEnd(ctx, options, () => planner);
      return outcome;
    } finally {
      if (progress) clearInterval(progress);
    }
  } finally {
    await stop();
  }
}

/** Both servers must answer /metadata before anything is planned: a wrong URL fails fast, not after retries. */
async function preflight(ctx: PipelineContext): Promise<void> {
  const checks = [
    ['source', ctx.source],
    ['destination', ctx.destination],
  ] as const;
  for (const [role, client] of checks) {
    try {
      await client.text({
        url: 'metadata?_summary=true',
        headers: { accept: 'application/fhir+json' },
        maxAttempts: 2,
        timeoutMs: 15_000,
      });
    } catch (err) {
      throw new Error(
        `the ${role} FHIR server ${client.baseUrl} does not answer /metadata: ${reasonOf(err)}`,
      );
    }
  }
}

/** Start-up: announce every unfinished chunk's step again (a crashed process may have lost a publish), then plan. */
async function kickOff(ctx: PipelineContext): Promise<void> {
  await reannounceOpenChunks(ctx);
  await ctx.bus.publish(topics.planTick, [
    {
      id: `${topics.planTick}:start:${ctx.now().toISOString()}`,
      body: { schemaVersion: 1, migrationId: ctx.config.migrationId, reason: 'start' },
    },
  ]);
}

async function waitForEnd(
  ctx: PipelineContext,
  options: RunOptions,
  planner: () => PlannerStatus | undefined,
): Promise<RunResult> {
  const signal = options.stopSignal ?? onSignal();
  let signalled = false;
  void signal.then(() => {
    signalled = true;
  });
  for (;;) {
    await Promise.race([signal, new Promise((r) => setTimeout(r, 250))]);
    const summary = await summarize(ctx.ledger, ctx.config.migrationId, ctx.now());
    if (summary.halted.length > 0) {
      return {
        summary,
        exitCode: 2,
        reason: `halted: ${summary.halted.map((h) => `${h.chunkId}: ${h.reason}`).join('; ')}`,
      };
    }
    if (signalled) return { summary, exitCode: 130, reason: 'stopped by signal' };
    const open = summary.list.filter((c) => c.status !== 'verified' && c.status !== 'skipped');
    if (summary.control === 'stopped' && open.length === 0)
      return {
        summary,
        exitCode: 0,
        reason: `stopped by the operator at watermark ${summary.watermark ?? '-'}`,
      };
    const status = planner();
    if (options.untilCaughtUp && status?.kind === 'caught-up') {
      if (open.length === 0) {
        const failed = summary.resources.failed + summary.resources.rejected;
        return failed > 0
          ? {
              summary,
              exitCode: 1,
              reason: `caught up to ${status.watermark}, but ${failed} resources could not be migrated`,
            }
          : { summary, exitCode: 0, reason: `caught up to ${status.watermark}` };
      }
    }
  }
}

function onSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

let lastLine = '';
async function reportProgress(ctx: PipelineContext): Promise<void> {
  try {
    const s = await summarize(ctx.ledger, ctx.config.migrationId, ctx.now());
    const done = (s.chunks.byStatus.verified ?? 0) + (s.chunks.byStatus.skipped ?? 0);
    const line = `[fhir-migrate] chunks ${done}/${s.chunks.total} done, ${s.resources.imported} resources imported (${(s.resourcesPerSecond ?? 0).toFixed(1)}/s), ${s.resources.failed + s.resources.rejected} failed, watermark ${s.watermark ?? '-'}`;
    if (line !== lastLine) process.stderr.write(`${line}\n`);
    lastLine = line;
  } catch {
    // progress is best effort; the run itself reports errors
  }
}
