/**
 * Any Bulk Data Access IG server: system `$export` with `_type`, `_since`, and the window's end as one
 * `_typeFilter=<Type>?_lastUpdated=lt<till>` per type (the IG has no `_until`). Without types no end filter
 * can be sent: the server exports up to "now" and the exporter's line checks flag what lies after `till`.
 *
 * Caveat (measured on HAPI 8.8.0): when `_since` is present HAPI replaces the typeFilter's `_lastUpdated`
 * with its own `_since` range, so the end bound is silently ignored. With `boundsInTypeFilter` both bounds go
 * into the typeFilter (`_lastUpdated=ge<since>&_lastUpdated=lt<till>`) and `_since` is not sent.
 */
import type { FhirClient } from '../client.ts';
import { requireInstant } from '../instant.ts';
import { assertResourceTypes, bulkExportDialect, type ExportDialectOptions } from './export-common.ts';
import type { ExportDialect, ExportWindow } from './types.ts';

export function bulkDataExportUrl(
  client: FhirClient,
  window: ExportWindow,
  options: Pick<ExportDialectOptions, 'boundsInTypeFilter'> = {},
): string {
  requireInstant(window.till, 'till');
  if (window.since !== undefined) requireInstant(window.since, 'since');
  assertResourceTypes(window.types);
  const query = new URLSearchParams({ _outputFormat: 'application/fhir+ndjson' });
  if (window.types.length > 0) query.set('_type', window.types.join(','));
  const inFilter = options.boundsInTypeFilter === true && window.types.length > 0;
  if (window.since !== undefined && !inFilter) query.set('_since', window.since);
  const lower = inFilter && window.since !== undefined ? `_lastUpdated=ge${window.since}&` : '';
  // URLSearchParams percent-encodes the nested query: Patient%3F_lastUpdated%3Dlt2026-01-01T00%3A00%3A00%2B00%3A00
  for (const type of window.types)
    query.append('_typeFilter', `${type}?${lower}_lastUpdated=lt${window.till}`);
  return client.resolve(`$export?${query.toString()}`);
}

export function createBulkDataExportDialect(
  client: FhirClient,
  options: ExportDialectOptions = {},
): ExportDialect {
  return bulkExportDialect(
    'bulkdata',
    client,
    (window) => bulkDataExportUrl(client, window, options),
    options,
  );
}
