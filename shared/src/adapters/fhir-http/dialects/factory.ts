/** Picks a dialect implementation by its configured name. */
import type { FhirClient } from '../client.ts';
import { type AzureExportOptions, createAzureExportDialect } from './export-azure.ts';
import { createBulkDataExportDialect } from './export-bulkdata.ts';
import type { ExportDialectOptions } from './export-common.ts';
import { createHapiExportDialect } from './export-hapi.ts';
import { type AhdsImportOptions, createAhdsImportDialect } from './import-ahds.ts';
import { createHapiImportDialect, type HapiImportOptions } from './import-hapi.ts';
import type { BulkImportDialect, ExportDialect } from './types.ts';

export type ExportDialectName = ExportDialect['name'];
export type ImportDialectName = BulkImportDialect['name'];

export function createExportDialect(
  name: ExportDialectName,
  client: FhirClient,
  options: ExportDialectOptions & AzureExportOptions = {},
): ExportDialect {
  switch (name) {
    case 'azure':
      return createAzureExportDialect(client, options);
    case 'hapi':
      return createHapiExportDialect(client, options);
    case 'bulkdata':
      return createBulkDataExportDialect(client, options);
    default:
      throw new Error(`unknown export dialect: ${String(name satisfies never)}`);
  }
}

export function createImportDialect(
  name: ImportDialectName,
  client: FhirClient,
  options: HapiImportOptions & AhdsImportOptions = {},
): BulkImportDialect {
  switch (name) {
    case 'ahds':
      return createAhdsImportDialect(client, options);
    case 'hapi':
      return createHapiImportDialect(client, options);
    default:
      throw new Error(`unknown bulk import dialect: ${String(name satisfies never)}`);
  }
}
