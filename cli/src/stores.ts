/**
 * Opening the stores a process works on, by configuration: the ledger and the bus (SQLite in the `state`
 * file, or Cosmos DB and Service Bus) and the staging area (a local folder served over HTTP, or a Blob
 * Storage container). Every command opens them here, so `status`, `dlq` and `service api` see the same
 * stores as `run` and `service <name>`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { TokenCredential } from '@azure/identity';
import { createAzureCredential } from '@fhir-migrate/shared/adapters/azure/identity.ts';
import { redactText } from '@fhir-migrate/shared/adapters/fhir-http/redact.ts';
import { openCosmosLedger } from '@fhir-migrate/shared/adapters/ledger-cosmos/open.ts';
import { createSqliteBus } from '@fhir-migrate/shared/adapters/sqlite/bus-sqlite.ts';
import { openSqliteDatabase, type SqliteDatabase } from '@fhir-migrate/shared/adapters/sqlite/database.ts';
import { createSqliteLedger } from '@fhir-migrate/shared/adapters/sqlite/ledger-sqlite.ts';
import { createFsStaging } from '@fhir-migrate/shared/adapters/staging-fs/staging-fs.ts';
import { ConfigError } from '@fhir-migrate/shared/config/load.ts';
import type { MigrationConfig, StoresConfig } from '@fhir-migrate/shared/config/schema.ts';
import type { Bus } from '@fhir-migrate/shared/ports/bus.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import type { Staging } from '@fhir-migrate/shared/ports/staging.ts';
import type { Logger } from 'pino';

export interface Stores {
  ledger: Ledger;
  bus: Bus;
  /** Where they live, for messages: e.g. "state file x.sqlite" or "Cosmos DB … and Service Bus …". */
  describe: string;
  close(): Promise<void>;
}

/** The process's Entra ID credential, made on first use (embedded installations never make one). */
export function lazyCredential(config: Pick<StoresConfig, 'azure'>): () => TokenCredential {
  let credential: TokenCredential | undefined;
  return () => {
    credential ??= createAzureCredential(config.azure);
    return credential;
  };
}

export interface OpenStoresOptions {
  /** Commands that only read (status, dlq, service api) refuse a state file that does not exist yet. */
  mustExist?: boolean;
  credential?: () => TokenCredential;
}

export async function openStores(
  config: StoresConfig,
  log: Logger,
  options: OpenStoresOptions = {},
): Promise<Stores> {
  const credential = options.credential ?? lazyCredential(config);
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    let db: SqliteDatabase | undefined;
    const sqlite = (): SqliteDatabase => {
      if (db) return db;
      const statePath = resolve(config.state);
      if (options.mustExist && !existsSync(statePath))
        throw new ConfigError([`state file ${config.state} does not exist`]);
      mkdirSync(dirname(statePath), { recursive: true });
      const opened = openSqliteDatabase(statePath);
      closers.push(() => {
        opened.close();
      });
      db = opened;
      return opened;
    };
    const ledger =
      config.ledger === 'cosmos'
        ? await openCosmosLedger(cosmosSettings(config), credential)
        : createSqliteLedger(sqlite());
    closers.push(() => ledger.close());
    const bus =
      config.bus === 'servicebus'
        ? await openServiceBus(config, log, credential)
        : createSqliteBus(sqlite(), {
            onError: (err) => log.warn({ reason: redactText(String(err)) }, 'bus receive loop error'),
            onLocksReleased: (count) =>
              log.info(
                { count },
                'released the message locks of a process that is gone; its messages are delivered again',
              ),
          });
    closers.push(() => bus.close());
    return { ledger, bus, describe: describeStores(config), close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

export function describeStores(config: StoresConfig): string {
  const ledger =
    config.ledger === 'cosmos'
      ? `Cosmos DB ${config.cosmos?.endpoint} (${config.cosmos?.database}/${config.cosmos?.container})`
      : `state file ${config.state}`;
  const bus =
    config.bus === 'servicebus'
      ? `Service Bus ${config.serviceBus?.namespace ?? '(connection string)'}`
      : config.ledger === 'sqlite'
        ? 'the same file'
        : `state file ${config.state}`;
  return `ledger in ${ledger}, bus in ${bus}`;
}

function cosmosSettings(config: StoresConfig): NonNullable<StoresConfig['cosmos']> {
  if (!config.cosmos) throw new ConfigError(['cosmos.endpoint: not set (ledger cosmos)']);
  return config.cosmos;
}

async function openServiceBus(
  config: StoresConfig,
  log: Logger,
  credential: () => TokenCredential,
): Promise<Bus> {
  const settings = config.serviceBus;
  const { createServiceBusBus } = await import(
    '@fhir-migrate/shared/adapters/bus-servicebus/bus-servicebus.ts'
  );
  const connection = settings?.connectionString
    ? { connectionString: settings.connectionString }
    : settings?.namespace
      ? { fullyQualifiedNamespace: settings.namespace, credential: credential() }
      : undefined;
  if (!connection) throw new ConfigError(['serviceBus.namespace: not set (bus servicebus)']);
  return createServiceBusBus({
    ...connection,
    manageTopology: settings?.manageTopology ?? false,
    // Staging a large export can take hours: the lock is renewed for as long as the handler runs (a dead
    // process stops renewing, so its lock still expires after the subscription's lock duration).
    maxLockRenewalMs: 24 * 3_600_000,
    onError: (err) => log.warn({ reason: redactText(err.message) }, 'Service Bus receive error'),
  });
}

/** The staging area of a pipeline process: a local folder served over HTTP, or a Blob Storage container. */
export async function openStaging(
  config: MigrationConfig,
  credential: () => TokenCredential,
): Promise<Staging> {
  if (config.staging === 'folder') {
    const statePath = resolve(config.state);
    return createFsStaging({
      root: resolve(config.stagingDir ?? `${statePath}.staging`),
      host: config.stagingHost,
      port: config.stagingPort,
      ...(config.stagingPublicUrl ? { publicBaseUrl: config.stagingPublicUrl } : {}),
    });
  }
  const blob = config.blob;
  if (!blob) throw new ConfigError(['blob.accountUrl: not set (staging blob)']);
  const { createBlobStaging, blobContainer } = await import(
    '@fhir-migrate/shared/adapters/staging-blob/staging-blob.ts'
  );
  return createBlobStaging({
    container: blobContainer(blob, credential),
    // AHDS $import reads with its own identity and refuses SAS; other destinations get short-lived SAS.
    urls: blob.urls ?? (config.destination.importDialect === 'ahds' ? 'plain' : 'sas'),
    createContainer: blob.createContainer,
  });
}
