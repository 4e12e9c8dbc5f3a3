/**
 * HAPI FHIR system `$export` (`_type`, `_since`, `_until`).
 *
 * HAPI (measured on 8.8.0) treats both `_since` and `_until` as INCLUSIVE and truncates them to milliseconds,
 * its lastUpdated precision. The window is half-open, so the kick-off sends the millisecond bounds that select
 * exactly [since, till): `_since` rounded up to the millisecond and `_until` = the last millisecond before
 * `till`. The exporter still re-checks every line's lastUpdated.
 */
import type { FhirClient } from '../client.ts';
import { requireInstant } from '../instant.ts';
import { assertResourceTypes, bulkExportDialect, type ExportDialectOptions } from './export-common.ts';
import type { ExportDialect, ExportWindow } from './types.ts';

/** Inclusive millisecond bounds for HAPI equal to the half-open window [since, till). */
export function hapiExportBounds(window: Pick<ExportWindow, 'since' | 'till'>): {
  since?: string;
  until: string;
} {
  const till = toMillis(window.till, 'till');
  const until = new Date(till.rest ? till.ms : till.ms - 1).toISOString();
  if (window.since === undefined) return { until };
  const since = toMillis(window.since, 'since');
  return { since: new Date(since.rest ? since.ms + 1 : since.ms).toISOString(), until };
}

export function hapiExportUrl(client: FhirClient, window: ExportWindow): string {
  assertResourceTypes(window.types);
  const bounds = hapiExportBounds(window);
  const query = new URLSearchParams({ _outputFormat: 'application/fhir+ndjson' });
  if (window.types.length > 0) query.set('_type', window.types.join(','));
  if (bounds.since) query.set('_since', bounds.since);
  query.set('_until', bounds.until);
  return client.resolve(`$export?${query.toString()}`);
}

export function createHapiExportDialect(
  client: FhirClient,
  options: ExportDialectOptions = {},
): ExportDialect {
  return bulkExportDialect('hapi', client, (window) => hapiExportUrl(client, window), options);
}

/** Whole milliseconds since the epoch, and whether digits beyond the millisecond are non-zero. */
function toMillis(instant: string, what: string): { ms: number; rest: boolean } {
  const parsed = requireInstant(instant, what);
  const ms = parsed.epochSeconds * 1000 + Number(parsed.fraction.slice(0, 3).padEnd(3, '0'));
  return { ms, rest: parsed.fraction.length > 3 };
}
