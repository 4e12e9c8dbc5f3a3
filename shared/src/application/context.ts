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

/** Delay before the n-th poll of a remote job: the server's Retry-After, within [250 ms, 10 s], growing. */
export function pollDelayMs(poll: number, retryAfterMs?: number): number {
  const backoff = Math.min(10_000, 250 * 2 ** Math.min(poll, 6));
  return Math.max(250, Math.min(retryAfterMs ?? backoff, backoff));
}
