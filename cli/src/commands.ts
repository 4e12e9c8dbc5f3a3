/** The smaller CLI commands: `service api`, `status --watch`, `dlq` rendering, and verify's flag parsing. */
import type { DeadLetterRow } from '@fhir-migrate/shared/application/dead-letters.ts';
import { summarize } from '@fhir-migrate/shared/application/summary.ts';
import { declareTopology } from '@fhir-migrate/shared/application/topology.ts';
import { ConfigError, loadStoresConfig } from '@fhir-migrate/shared/config/load.ts';
import type { StoresConfig } from '@fhir-migrate/shared/config/schema.ts';
import type { Bus } from '@fhir-migrate/shared/ports/bus.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import { listenApi } from './api.ts';
import { createLogger } from './compose.ts';
import { renderSummary } from './status.ts';
import { openStores, type Stores } from './stores.ts';
import type { VerifyFlags } from './verify.ts';

const log = createLogger();

/**
 * The store settings of a command that needs no FHIR server (status, dlq, service api): config file,
 * environment, and its own --state / --migration-id flags.
 */
export function storesFrom(options: Record<string, unknown>): StoresConfig {
  const flags = [
    ...(typeof options.state === 'string'
      ? [{ path: ['state'], value: options.state, flag: '--state' }]
      : []),
    ...(typeof options.migrationId === 'string'
      ? [{ path: ['migrationId'], value: options.migrationId, flag: '--migration-id' }]
      : []),
  ];
  const { config, warnings } = loadStoresConfig({
    ...(typeof options.config === 'string' ? { configFile: options.config } : {}),
    flags,
  });
  for (const w of warnings) log.warn(w);
  return config;
}

/** Opens the configured stores (an existing state file, or Cosmos DB / Service Bus) for `fn`, then closes them. */
export async function withStores<T>(config: StoresConfig, fn: (stores: Stores) => Promise<T>): Promise<T> {
  const stores = await openStores(config, log, { mustExist: true });
  try {
    return await fn(stores);
  } finally {
    await stores.close();
  }
}

/** Opens the configured bus (declaring the topology, as every process does) for `fn`, then closes it. */
export async function withBus(config: StoresConfig, fn: (bus: Bus) => Promise<void>): Promise<void> {
  await withStores(config, async ({ bus }) => {
    await declareTopology(bus);
    await fn(bus);
  });
}

export function renderDeadLetters(rows: readonly DeadLetterRow[], json: boolean): string {
  if (json) return JSON.stringify(rows, null, 2);
  if (rows.length === 0) return 'no dead letters';
  return [
    `${rows.length} dead letter(s):`,
    ...rows.map(
      (d) =>
        `  ${d.id}\n    ${d.topic} → ${d.subscription}, ${d.deliveryCount} deliveries, dead-lettered ${d.deadLetteredAt}\n    reason: ${d.reason}`,
    ),
    'replay with: fhir-migrate dlq replay --id <id> (or --all)',
  ].join('\n');
}

/** `fhir-migrate service api`: the API and dashboard over a state file that other processes work on. */
export async function serveApiOnly(options: Record<string, unknown>): Promise<void> {
  const config = storesFrom(options);
  const port = Number(options.port ?? options.apiPort ?? process.env.FHIR_MIGRATE_API_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError([`--port ${String(options.port)}: expected a port number 0–65535`]);
  const apiKey = typeof options.apiKey === 'string' ? options.apiKey : process.env.FHIR_MIGRATE_API_KEY;
  if (apiKey !== undefined && apiKey.length < 16)
    throw new ConfigError([
      'apiKey (FHIR_MIGRATE_API_KEY or --api-key) = (secret, not shown): expected at least 16 characters',
    ]);
  const stores = await openStores(config, log, { mustExist: true });
  await declareTopology(stores.bus);
  const api = await listenApi(
    {
      ledger: stores.ledger,
      bus: stores.bus,
      migrationId: config.migrationId,
      host: String(options.host ?? options.apiHost ?? process.env.FHIR_MIGRATE_API_HOST ?? '127.0.0.1'),
      port,
      ...(apiKey ? { apiKey } : {}),
    },
    log,
  );
  process.stderr.write(
    `[fhir-migrate] dashboard and API at ${api.url}${apiKey ? '' : ' (read-only: no API key configured)'}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await api.close();
  await stores.close();
}

/** `status --watch`: the summary redrawn in place until Ctrl-C. */
export async function watchStatus(ledger: Ledger, migrationId: string, seconds: number): Promise<void> {
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  try {
    while (!stop) {
      const summary = await summarize(ledger, migrationId, new Date());
      const clear = process.stdout.isTTY ? '\x1b[2J\x1b[H' : '';
      process.stdout.write(
        `${clear}${renderSummary(summary)}\n  (${new Date().toISOString()}, every ${seconds}s — Ctrl-C to leave)\n`,
      );
      await new Promise((r) => setTimeout(r, seconds * 1000));
    }
  } finally {
    process.off('SIGINT', onSignal);
  }
}

const positiveInt = (flag: string, v: unknown): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigError([`${flag} ${String(v)}: expected a whole number ≥ 1`]);
  return n;
};

export function verifyFlags(options: Record<string, unknown>): VerifyFlags {
  const full = options.full === true;
  const fix = options.fix === true;
  const deleteExtra = options.deleteExtra === true;
  if (fix && !full)
    throw new ConfigError(['--fix needs --full (it repairs what the full reconciliation finds)']);
  if (deleteExtra && !fix) throw new ConfigError(['--delete-extra needs --full --fix']);
  const deep = positiveInt('--deep', options.deep);
  const seedRaw = options.seed;
  if (seedRaw !== undefined && !/^-?\d+$/.test(String(seedRaw)))
    throw new ConfigError([`--seed ${String(seedRaw)}: expected a whole number`]);
  const types =
    typeof options.types === 'string'
      ? options.types
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean)
      : undefined;
  for (const t of types ?? [])
    if (!/^[A-Z][A-Za-z]+$/.test(t))
      throw new ConfigError([`--types: '${t}' is not a FHIR resource type name`]);
  return {
    ...(deep !== undefined ? { deep } : {}),
    ...(seedRaw !== undefined ? { seed: Number(seedRaw) } : {}),
    full,
    fix,
    deleteExtra,
    ...(types ? { types } : {}),
    ...(typeof options.filter === 'string' ? { filter: options.filter } : {}),
    json: options.json === true,
    requestedBy: 'cli verify',
  };
}
