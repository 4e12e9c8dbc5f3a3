/** What every service handler works with; built once by a composition root (the CLI). */
import type { Logger } from 'pino';
import type { FhirClient } from '../adapters/fhir-http/client.ts';
import type { RestImporter } from '../adapters/fhir-http/dialects/import-rest.ts';
import type { BulkImportDialect, ExportDialect } from '../adapters/fhir-http/dialects/types.ts';
import type { MigrationConfig } from '../config/schema.ts';
import type { Bus } from '../ports/bus.ts';
import type { Ledger } from '../ports/ledger.ts';
import type { Staging } from '../ports/staging.ts';

export interface PipelineContext {
  config: MigrationConfig;
  ledger: Ledger;
  bus: Bus;
  staging: Staging;
  source: FhirClient;
  destination: FhirClient;
  exportDialect: ExportDialect;
  /** Absent when the destination is written through REST batches. */
  bulkImport?: BulkImportDialect;
  rest: RestImporter;
  now: () => Date;
  log: Logger;
}

/** The context's clock as an ISO instant: the `at` of every command a handler decides. */
export const nowIso = (ctx: Pick<PipelineContext, 'now'>): string => ctx.now().toISOString();

/** Shortest and longest wait between two polls of a remote job. */
export const pollBoundsMs = { min: 250, max: 30_000 } as const;

/**
 * Delay before poll n of a remote job: a twentieth of the time the job has run so far, never under 250 ms
 * or over 30 s. A job's end is then noticed within ~5% of its length, whatever the length (the old schedule
 * — 1 s steps, then doubling to 10 s — noticed a 37 s import up to 10 s late). A poll is one cheap read.
 * A server's Retry-After shortens a delay but never stretches it: HAPI says 120 s for jobs that take two.
 */
export function pollDelayMs(poll: number, retryAfterMs?: number): number {
  let elapsed = 0;
  let schedule: number = pollBoundsMs.min;
  for (let n = 0; n <= poll; n++) {
    schedule = Math.min(pollBoundsMs.max, Math.max(pollBoundsMs.min, elapsed / 20));
    if (schedule === pollBoundsMs.max) break;
    elapsed += schedule;
  }
  return Math.max(pollBoundsMs.min, Math.min(retryAfterMs ?? schedule, schedule));
}

/** Whether a remote job started at `startedAt` has run longer than the configured job timeout. */
export function jobTimedOut(
  ctx: Pick<PipelineContext, 'now' | 'config'>,
  startedAt: string | undefined,
): boolean {
  return !!startedAt && ctx.now().getTime() - Date.parse(startedAt) > ctx.config.jobTimeout;
}

export function jobTimeoutReason(
  job: '$export' | '$import',
  ctx: Pick<PipelineContext, 'config'>,
  progress?: string,
): string {
  const seconds = Math.round(ctx.config.jobTimeout / 1000);
  return `${job} job still running after the job timeout of ${seconds}s (jobTimeout)${progress ? `, last progress: ${progress}` : ''}`;
}
