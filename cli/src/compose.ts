/**
 * The composition root: the only place that reads configuration and picks adapters. Builds the context
 * every service works with, on the embedded adapters (SQLite ledger and bus in one file, a local staging
 * folder served over HTTP).
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createAuthProvider } from '@fhir-migrate/shared/adapters/fhir-http/auth-factory.ts';
import { createFhirClient } from '@fhir-migrate/shared/adapters/fhir-http/client.ts';
import {
  createExportDialect,
  createImportDialect,
} from '@fhir-migrate/shared/adapters/fhir-http/dialects/factory.ts';
import { createRestImporter } from '@fhir-migrate/shared/adapters/fhir-http/dialects/import-rest.ts';
import { redactText } from '@fhir-migrate/shared/adapters/fhir-http/redact.ts';
import { createSqliteBus } from '@fhir-migrate/shared/adapters/sqlite/bus-sqlite.ts';
import { openSqliteDatabase } from '@fhir-migrate/shared/adapters/sqlite/database.ts';
import { createSqliteLedger } from '@fhir-migrate/shared/adapters/sqlite/ledger-sqlite.ts';
import { createFsStaging } from '@fhir-migrate/shared/adapters/staging-fs/staging-fs.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import type { MigrationConfig } from '@fhir-migrate/shared/config/schema.ts';
import { activeTraceIds } from '@fhir-migrate/shared/runtime/tracing.ts';
import { type Logger, pino } from 'pino';

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
  config: Pick<MigrationConfig, 'source' | 'destination'> & Partial<Pick<MigrationConfig, 'requestTimeout'>>,
  role: 'source' | 'destination',
  logger: Logger,
  userAgent = 'fhir-migrate',
) {
  return createFhirClient({
    baseUrl: config[role].url,
    ...(config.requestTimeout ? { timeoutMs: config.requestTimeout } : {}),
    auth: createAuthProvider(config[role].auth, { logger }),
    userAgent,
    logger,
  });
}

export interface Composed {
  ctx: PipelineContext;
  close(): Promise<void>;
}

export async function compose(config: MigrationConfig, log: Logger): Promise<Composed> {
  const statePath = resolve(config.state);
  mkdirSync(dirname(statePath), { recursive: true });
  const db = openSqliteDatabase(statePath);
  const ledger = createSqliteLedger(db);
  const bus = createSqliteBus(db, {
    onError: (err) => log.warn({ reason: redactText(String(err)) }, 'bus receive loop error'),
    onLocksReleased: (count) =>
      log.info(
        { count },
        'released the message locks of a process that is gone; its messages are delivered again',
      ),
  });
  const staging = await createFsStaging({
    root: resolve(config.stagingDir ?? `${statePath}.staging`),
    host: config.stagingHost,
    port: config.stagingPort,
    ...(config.stagingPublicUrl ? { publicBaseUrl: config.stagingPublicUrl } : {}),
  });
  const clientLog = log.child({ component: 'fhir-client' });
  const source = fhirClientFor(config, 'source', clientLog);
  const destination = fhirClientFor(config, 'destination', clientLog);
  const exportDialect = createExportDialect(config.source.exportDialect, source);
  const ctx: PipelineContext = {
    config,
    ledger,
    bus,
    staging,
    source,
    destination,
    exportDialect,
    ...(config.destination.importDialect === 'hapi'
      ? { bulkImport: createImportDialect('hapi', destination) }
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
      await bus.close();
      await staging.close();
      await source.close();
      await destination.close();
      await ledger.close();
      db.close();
    },
  };
}
