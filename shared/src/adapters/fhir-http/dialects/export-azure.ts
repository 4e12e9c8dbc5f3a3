/**
 * Azure API for FHIR and the Azure Health Data Services FHIR service: system `$export` with `_type`,
 * `_since` and `_till` (the window's end, half-open `[_since, _till)` on the parallel SQL path), plus the
 * Azure-only parameters the migration uses — `_isParallel`, `includeAssociatedData=_history,_deleted`
 * (every version and soft-deleted versions, in the form AHDS `$import` consumes), `_container`, `_maxCount`
 * and the anonymization settings. The server allow-lists its parameters (anything else is a 400), a running
 * job answers 202 with no X-Progress, the manifest lists `output[type,url,count]` with full blob URLs on the
 * export storage account (a different origin: list it in `allowedFileOrigins`), and DELETE cancels.
 * Contract: ../shared/notes/azure-contracts.md §A (read from microsoft/fhir-server).
 */
import type { FhirClient } from '../client.ts';
import { requireInstant } from '../instant.ts';
import { assertResourceTypes, bulkExportDialect, type ExportDialectOptions } from './export-common.ts';
import type { ExportDialect, ExportWindow } from './types.ts';

export interface AzureExportOptions {
  /** `_isParallel` (the service's default: false on Azure API for FHIR, true on AHDS). */
  isParallel?: boolean;
  /** `includeAssociatedData=_history`: every version in the window, not only the current one. */
  includeHistory?: boolean;
  /** `includeAssociatedData=_deleted`: soft-deleted versions, marked with the deleted-state extension. */
  includeDeleted?: boolean;
  /** `_container`: an existing container on the service's configured export account. */
  container?: string;
  /** `_maxCount` (1–10,000): the page and range size of the server's queries, not a cap on the total. */
  maxCount?: number;
  /** `_anonymizationConfig` (needs `container`) and its optional `_anonymizationConfigEtag`. */
  anonymizationConfig?: string;
  anonymizationConfigEtag?: string;
}

const containerName = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/;

/** Throws on options the service would refuse with a 400, naming the option. */
export function validateAzureExportOptions(options: AzureExportOptions): void {
  if (
    options.maxCount !== undefined &&
    !(Number.isInteger(options.maxCount) && options.maxCount >= 1 && options.maxCount <= 10_000)
  )
    throw new Error(`azure export: maxCount must be a whole number from 1 to 10000, got ${options.maxCount}`);
  if (options.container !== undefined && !containerName.test(options.container))
    throw new Error(
      `azure export: container ${JSON.stringify(options.container)} is not a valid Blob container name`,
    );
  if (options.anonymizationConfig !== undefined && options.container === undefined)
    throw new Error('azure export: anonymizationConfig needs container (the service refuses it otherwise)');
  if (options.anonymizationConfigEtag !== undefined && options.anonymizationConfig === undefined)
    throw new Error('azure export: anonymizationConfigEtag needs anonymizationConfig');
}

export function azureExportUrl(
  client: FhirClient,
  window: ExportWindow,
  options: AzureExportOptions = {},
): string {
  requireInstant(window.till, 'till');
  if (window.since !== undefined) requireInstant(window.since, 'since');
  assertResourceTypes(window.types);
  validateAzureExportOptions(options);
  const query = new URLSearchParams({ _outputFormat: 'application/fhir+ndjson' });
  if (window.types.length > 0) query.set('_type', window.types.join(','));
  if (window.since !== undefined) query.set('_since', window.since);
  query.set('_till', window.till);
  if (options.isParallel !== undefined) query.set('_isParallel', String(options.isParallel));
  const associated = [
    ...(options.includeHistory ? ['_history'] : []),
    ...(options.includeDeleted ? ['_deleted'] : []),
  ];
  if (associated.length > 0) query.set('includeAssociatedData', associated.join(','));
  if (options.container !== undefined) query.set('_container', options.container);
  if (options.maxCount !== undefined) query.set('_maxCount', String(options.maxCount));
  if (options.anonymizationConfig !== undefined)
    query.set('_anonymizationConfig', options.anonymizationConfig);
  if (options.anonymizationConfigEtag !== undefined)
    query.set('_anonymizationConfigEtag', options.anonymizationConfigEtag);
  return client.resolve(`$export?${query.toString()}`);
}

export function createAzureExportDialect(
  client: FhirClient,
  options: ExportDialectOptions & AzureExportOptions = {},
): ExportDialect {
  validateAzureExportOptions(options);
  return bulkExportDialect('azure', client, (window) => azureExportUrl(client, window, options), options);
}
