/**
 * The composition root: the only place that reads configuration and picks adapters. Builds the context
 * every service works with, on the configured stores (stores.ts: embedded SQLite and a local folder, or
 * Cosmos DB, Service Bus and Blob Storage) and FHIR dialects.
 */
import type { TokenCredential } from '@azure/identity';
import { storageScope } from '@fhir-migrate/shared/adapters/azure/identity.ts';
import { entraIdAuth } from '@fhir-migrate/shared/adapters/fhir-http/auth-azure.ts';
import { createAuthProvider } from '@fhir-migrate/shared/adapters/fhir-http/auth-factory.ts';
import { createFhirClient } from '@fhir-migrate/shared/adapters/fhir-http/client.ts';
import type { StorageAuth } from '@fhir-migrate/shared/adapters/fhir-http/dialects/export-common.ts';
import {
  createExportDialect,
  createImportDialect,
} from '@fhir-migrate/shared/adapters/fhir-http/dialects/factory.ts';
import { createRestImporter } from '@fhir-migrate/shared/adapters/fhir-http/dialects/import-rest.ts';
import { redactText } from '@fhir-migrate/shared/adapters/fhir-http/redact.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import type { MigrationConfig } from '@fhir-migrate/shared/config/schema.ts';
import type { Staging } from '@fhir-migrate/shared/ports/staging.ts';
import { activeTraceIds } from '@fhir-migrate/shared/runtime/tracing.ts';
import { type Logger, pino } from 'pino';
import { lazyCredential, openStaging, openStores } from './stores.ts';

export function createLogger(): Logger {
  return pino(
    {
      level: process.env.FHIR_MIGRATE_LOG_LEVEL ?? 'info',
      base: undefined,
      redact: {
        paths: ['*.authorization', '*.token', '*.password', '*.clientSecret', 'headers.*'],
        censor: 'REDACTED',
      },
      formatters: { log: (o) => JSON.parse(redactText(JSON.stringify(o))) },
      // Lines written inside a span carry its ids, so a log line leads to its chunk's trace.
      mixin: () => activeTraceIds() ?? {},
    },
    pino.destination(2),
  );
}

/** The FHIR client for one of the migration's servers, with its configured auth. */
export function fhirClientFor(
  config: Pick<MigrationConfig, 'source' | 'destination'> &
    Partial<Pick<MigrationConfig, 'requestTimeout' | 'azure'>>,
  role: 'source' | 'destination',
  logger: Logger,
  userAgent = 'fhir-migrate',
  credential: () => TokenCredential = lazyCredential({ azure: config.azure ?? { credential: 'default' } }),
) {
  return createFhirClient({
    baseUrl: config[role].url,
    ...(config.requestTimeout ? { timeoutMs: config.requestTimeout } : {}),
    auth: createAuthProvider(config[role].auth, {
      logger,
      azure: { credential, serverUrl: config[role].url },
    }),
    userAgent,
    logger,
  });
}

export interface Composed {
  ctx: PipelineContext;
  close(): Promise<void>;
}

export async function compose(config: MigrationConfig, log: Logger): Promise<Composed> {
  const credential = lazyCredential(config);
  const stores = await openStores(config, log, { credential });
  let staging: Staging;
  try {
    staging = await openStaging(config, credential);
  } catch (err) {
    await stores.close();
    throw err;
  }
  const { ledger, bus } = stores;
  log.info({ stores: stores.describe, staging: config.staging }, 'stores opened');
  const clientLog = log.child({ component: 'fhir-client' });
  const source = fhirClientFor(config, 'source', clientLog, undefined, credential);
  const destination = fhirClientFor(config, 'destination', clientLog, undefined, credential);
  const exportDialect = createExportDialect(
    config.source.exportDialect,
    source,
    exportOptions(config, credential),
  );
  const bulkImportDialect = config.destination.importDialect;
  const ctx: PipelineContext = {
    config,
    ledger,
    bus,
    staging,
    source,
    destination,
    exportDialect,
    ...(bulkImportDialect !== 'rest'
      ? { bulkImport: createImportDialect(bulkImportDialect, destination, importOptions(config, credential)) }
      : {}),
    rest: createRestImporter(destination, {
      bundleSize: config.restBundleSize,
      concurrency: config.restConcurrency,
    }),
    now: () => new Date(),
    log,
  };
  return {
    ctx,
    async close() {
      await staging.close();
      await source.close();
      await destination.close();
      await stores.close();
    },
  };
}

/** Files on the storage account at `accountUrl` are read with a Blob Storage token of the credential. */
function storageAuthFor(accountUrl: string, credential: () => TokenCredential): StorageAuth {
  return { origins: [new URL(accountUrl).origin], auth: entraIdAuth(credential(), storageScope) };
}

/** The AHDS import dialect reads its error files from the staging account with a Blob Storage token. */
function importOptions(config: MigrationConfig, credential: () => TokenCredential) {
  const accountUrl = config.blob?.accountUrl;
  if (config.destination.importDialect !== 'ahds' || !accountUrl || config.blob?.connectionString) return {};
  return { storageAuth: storageAuthFor(accountUrl, credential) };
}

/** The export dialect's settings: Azure's `$export` parameters, and a Blob Storage token for its files. */
function exportOptions(config: MigrationConfig, credential: () => TokenCredential) {
  if (config.source.exportDialect !== 'azure') return {};
  const { azureExport, exportStorageUrl } = config.source;
  return {
    ...azureExport,
    ...(exportStorageUrl ? { storageAuth: storageAuthFor(exportStorageUrl, credential) } : {}),
  };
}
