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

/**
 * Delay before the n-th poll of a remote job: 250 ms, 500 ms, then every second for ten polls (small jobs
 * end within seconds, and a poll is cheap), then doubling up to 10 s. A server's Retry-After shortens it
 * but never lengthens it past that: HAPI says 120 s for jobs that take two.
 */
export function pollDelayMs(poll: number, retryAfterMs?: number): number {
  const schedule = poll < 2 ? 250 * 2 ** poll : poll < 12 ? 1000 : Math.min(10_000, 1000 * 2 ** (poll - 11));
  return Math.max(250, Math.min(retryAfterMs ?? schedule, schedule));
}
