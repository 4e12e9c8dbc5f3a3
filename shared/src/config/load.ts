/**
 * Loads the configuration once, in a composition root: defaults < YAML file < environment < CLI flags.
 * Invalid configuration throws a ConfigError naming each key, where it came from, its value (secrets
 * masked) and what was expected — before any connection is opened.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { seedUnitToDuration } from '../domain/duration.ts';
import { configSchema, type MigrationConfig, type StoresConfig, storesConfigSchema } from './schema.ts';

type Path = readonly string[];
interface Setting {
  path: Path;
  value: unknown;
  /** e.g. "env FHIR_MIGRATE_CHUNK_LIMIT", "flag --chunk-limit", "config.yaml" */
  origin: string;
}

const secretKeys = new Set(['token', 'password', 'clientSecret', 'apiKey', 'key', 'connectionString']);

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const bool = (v: string): boolean | string =>
  /^(true|false)$/i.test(v.trim()) ? v.trim().toLowerCase() === 'true' : v;
/** FHIR_MIGRATE_*_AUTH: `azure` (Entra ID) or `none`; anything else is left for the schema to refuse. */
const authType = (v: string): unknown => (v === 'azure' || v === 'none' ? { type: v } : v);
const num = (v: string): number | string => (/^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v);

/** Environment variables and the config paths they set. Names are stable: scripts rely on them. */
export const envVariables: Record<string, { path: Path; parse?: (v: string) => unknown }> = {
  FHIR_MIGRATE_MIGRATION_ID: { path: ['migrationId'] },
  FHIR_MIGRATE_SOURCE_URL: { path: ['source', 'url'] },
  FHIR_MIGRATE_SOURCE_BEARER_TOKEN: {
    path: ['source', 'auth'],
    parse: (token) => ({ type: 'bearer', token }),
  },
  FHIR_MIGRATE_DESTINATION_URL: { path: ['destination', 'url'] },
  FHIR_MIGRATE_DESTINATION_BEARER_TOKEN: {
    path: ['destination', 'auth'],
    parse: (token) => ({ type: 'bearer', token }),
  },
  FHIR_MIGRATE_SOURCE_AUTH: { path: ['source', 'auth'], parse: authType },
  FHIR_MIGRATE_DESTINATION_AUTH: { path: ['destination', 'auth'], parse: authType },
  FHIR_MIGRATE_EXPORT_STORAGE_URL: { path: ['source', 'exportStorageUrl'] },
  FHIR_MIGRATE_AZURE_EXPORT_CONTAINER: { path: ['source', 'azureExport', 'container'] },
  FHIR_MIGRATE_LEDGER: { path: ['ledger'] },
  FHIR_MIGRATE_COSMOS_ENDPOINT: { path: ['cosmos', 'endpoint'] },
  FHIR_MIGRATE_COSMOS_DATABASE: { path: ['cosmos', 'database'] },
  FHIR_MIGRATE_COSMOS_CONTAINER: { path: ['cosmos', 'container'] },
  FHIR_MIGRATE_COSMOS_KEY: { path: ['cosmos', 'key'] },
  FHIR_MIGRATE_BUS: { path: ['bus'] },
  FHIR_MIGRATE_SERVICEBUS_NAMESPACE: { path: ['serviceBus', 'namespace'] },
  FHIR_MIGRATE_SERVICEBUS_CONNECTION_STRING: { path: ['serviceBus', 'connectionString'] },
  FHIR_MIGRATE_SERVICEBUS_MANAGE_TOPOLOGY: { path: ['serviceBus', 'manageTopology'], parse: bool },
  FHIR_MIGRATE_STAGING: { path: ['staging'] },
  FHIR_MIGRATE_BLOB_ACCOUNT_URL: { path: ['blob', 'accountUrl'] },
  FHIR_MIGRATE_BLOB_CONNECTION_STRING: { path: ['blob', 'connectionString'] },
  FHIR_MIGRATE_BLOB_CONTAINER: { path: ['blob', 'container'] },
  FHIR_MIGRATE_BLOB_URLS: { path: ['blob', 'urls'] },
  FHIR_MIGRATE_BLOB_CREATE_CONTAINER: { path: ['blob', 'createContainer'], parse: bool },
  FHIR_MIGRATE_AZURE_CREDENTIAL: { path: ['azure', 'credential'] },
  // The standard @azure/identity variables, so that `managed-identity` and `client-secret` find them too.
  AZURE_TENANT_ID: { path: ['azure', 'tenantId'] },
  AZURE_CLIENT_ID: { path: ['azure', 'clientId'] },
  AZURE_CLIENT_SECRET: { path: ['azure', 'clientSecret'] },
  FHIR_MIGRATE_CHUNK_DURATION: { path: ['chunkDuration'] },
  FHIR_MIGRATE_CHUNK_LIMIT: { path: ['chunkLimit'], parse: num },
  FHIR_MIGRATE_SAFETY_LAG: { path: ['safetyLag'] },
  FHIR_MIGRATE_POLL_INTERVAL: { path: ['pollInterval'] },
  FHIR_MIGRATE_START_DATE: { path: ['startDate'] },
  FHIR_MIGRATE_RESOURCE_TYPES: { path: ['resourceTypes'], parse: list },
  FHIR_MIGRATE_EXPORT_DIALECT: { path: ['source', 'exportDialect'] },
  FHIR_MIGRATE_IMPORT_DIALECT: { path: ['destination', 'importDialect'] },
  FHIR_MIGRATE_MAX_CONCURRENT_IMPORTS: { path: ['maxConcurrentImports'], parse: num },
  FHIR_MIGRATE_EXPORT_AHEAD: { path: ['exportAhead'], parse: num },
  FHIR_MIGRATE_DEEP_CHECK_COUNT: { path: ['deepCheckCount'], parse: num },
  FHIR_MIGRATE_MAX_ATTEMPTS: { path: ['maxAttempts'], parse: num },
  FHIR_MIGRATE_REQUEST_TIMEOUT: { path: ['requestTimeout'] },
  FHIR_MIGRATE_JOB_TIMEOUT: { path: ['jobTimeout'] },
  FHIR_MIGRATE_STATE: { path: ['state'] },
  FHIR_MIGRATE_STAGING_DIR: { path: ['stagingDir'] },
  FHIR_MIGRATE_STAGING_HOST: { path: ['stagingHost'] },
  FHIR_MIGRATE_STAGING_PORT: { path: ['stagingPort'], parse: num },
  FHIR_MIGRATE_STAGING_PUBLIC_URL: { path: ['stagingPublicUrl'] },
  FHIR_MIGRATE_API_HOST: { path: ['apiHost'] },
  FHIR_MIGRATE_API_PORT: { path: ['apiPort'], parse: num },
  FHIR_MIGRATE_API_KEY: { path: ['apiKey'] },
  FHIR_MIGRATE_SURFACE_CHECK_RESOURCES: { path: ['surfaceCheckResources'], parse: list },
  FHIR_MIGRATE_CUTOVER_QUIET_PERIOD: { path: ['cutoverQuietPeriod'] },
  // The seed tool's settings (Azure/apiforfhir-migration-tool), accepted under their own names.
  AZURE_SourceUri: { path: ['source', 'url'] },
  AZURE_DestinationUri: { path: ['destination', 'url'] },
  AZURE_ChunkLimit: { path: ['chunkLimit'], parse: num },
  AZURE_StartDate: { path: ['startDate'], parse: seedDate },
  AZURE_ResourceTypes: { path: ['resourceTypes'], parse: list },
  AZURE_SurfaceCheckResources: { path: ['surfaceCheckResources'], parse: list },
  AZURE_DeepCheckCount: { path: ['deepCheckCount'], parse: num },
  AZURE_IsParallel: { path: ['source', 'azureExport', 'isParallel'], parse: bool },
  AZURE_ExportWithHistory: { path: ['source', 'azureExport', 'includeHistory'], parse: bool },
  AZURE_ExportWithDelete: { path: ['source', 'azureExport', 'includeDeleted'], parse: bool },
};

/** Environment variables read outside the configuration (logging, test fault hooks). */
const processVariables = /^FHIR_MIGRATE_(LOG_LEVEL|TEST_[A-Z_]+)$/;

/** Seed settings that only the azure export dialect acts on; with another dialect they are reported. */
export const azureExportOnly = [
  'AZURE_IsParallel',
  'AZURE_ExportWithHistory',
  'AZURE_ExportWithDelete',
] as const;

function seedDate(v: string): string {
  // The seed tool took plain dates (yyyy-MM-dd); treat them as UTC midnight.
  return /^\d{4}-\d{2}-\d{2}$/.test(v.trim()) ? `${v.trim()}T00:00:00Z` : v;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv): { settings: Setting[]; warnings: string[] } {
  const settings: Setting[] = [];
  const warnings: string[] = [];
  for (const [name, spec] of Object.entries(envVariables)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    settings.push({ path: spec.path, value: spec.parse ? spec.parse(raw) : raw, origin: `env ${name}` });
  }
  // AZURE_ExportChunkTime (a number) with AZURE_ExportChunkDuration (Days/Hours/Minutes) → chunkDuration.
  const time = env.AZURE_ExportChunkTime;
  if (time) {
    const unit = env.AZURE_ExportChunkDuration ?? 'Days';
    const value = /^\d+$/.test(time) ? seedUnitToDuration(Number(time), unit) : time;
    settings.push({
      path: ['chunkDuration'],
      value,
      origin: 'env AZURE_ExportChunkTime/AZURE_ExportChunkDuration',
    });
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('FHIR_MIGRATE_') && !(name in envVariables) && !processVariables.test(name)) {
      warnings.push(
        `${name} is not a fhir-migrate setting (known: ${Object.keys(envVariables)
          .filter((k) => k.startsWith('FHIR_'))
          .join(', ')})`,
      );
    }
  }
  return { settings, warnings };
}

export function settingsFromYaml(file: string): Setting[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`config file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError([
      `config file ${file}: not valid YAML (${err instanceof Error ? err.message.split('\n')[0] : err})`,
    ]);
  }
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigError([`config file ${file}: expected a mapping of settings`]);
  return flatten(doc as Record<string, unknown>, [], file);
}

function flatten(obj: Record<string, unknown>, prefix: string[], origin: string): Setting[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v && typeof v === 'object' && !Array.isArray(v) && !(prefix.length === 1 && k === 'auth')
      ? flatten(v as Record<string, unknown>, [...prefix, k], origin)
      : [{ path: [...prefix, k], value: v, origin }],
  );
}

export interface LoadOptions {
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Settings from CLI flags, already mapped to config paths. */
  flags?: { path: Path; value: unknown; flag: string }[];
}

export interface LoadedConfig {
  config: MigrationConfig;
  warnings: string[];
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const { raw, origins, warnings } = layered(options, env);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error.issues, origins));
  const config = parsed.data;
  if (config.source.exportDialect !== 'azure')
    for (const name of azureExportOnly)
      if (env[name] !== undefined)
        warnings.push(
          `${name}=${env[name]} has no effect: only exportDialect azure sends it (this one is ${config.source.exportDialect})`,
        );
  return { config, warnings };
}

/**
 * The store settings alone (migration id, ledger, bus, their Azure credential), from the same sources, for
 * commands that neither export nor import (status, dlq, service api): they need no FHIR server settings.
 */
export function loadStoresConfig(options: LoadOptions = {}): { config: StoresConfig; warnings: string[] } {
  const { raw, origins, warnings } = layered(options, options.env ?? process.env);
  const parsed = storesConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error.issues, origins));
  return { config: parsed.data, warnings };
}

function layered(options: LoadOptions, env: NodeJS.ProcessEnv) {
  const fromEnv = settingsFromEnv(env);
  const settings: Setting[] = [
    ...(options.configFile ? settingsFromYaml(options.configFile) : []),
    ...fromEnv.settings,
    ...(options.flags ?? []).map((f) => ({ path: f.path, value: f.value, origin: `flag ${f.flag}` })),
  ];
  // Start from empty server blocks so that a missing URL is reported as source.url / destination.url.
  const raw: Record<string, unknown> = { source: {}, destination: {} };
  const origins = new Map<string, Setting>();
  for (const s of settings) {
    setPath(raw, s.path, s.value);
    origins.set(s.path.join('.'), s);
  }
  return { raw, origins, warnings: fromEnv.warnings };
}

function setPath(target: Record<string, unknown>, path: Path, value: unknown): void {
  let node = target;
  path.slice(0, -1).forEach((key) => {
    const next = node[key];
    if (!next || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  });
  node[path[path.length - 1] as string] = value;
}

function describeIssues(issues: z.core.$ZodIssue[], origins: Map<string, Setting>): string[] {
  return issues.map((issue) => {
    const key = issue.path.join('.');
    // Find the setting that supplied this key (or its nearest parent, e.g. source.auth for source.auth.token).
    let origin: Setting | undefined;
    for (let n = issue.path.length; n > 0 && !origin; n--)
      origin = origins.get(issue.path.slice(0, n).join('.'));
    // Anything under an auth block may hold a secret: its value is never shown.
    const secret = [...issue.path, ...(origin?.path ?? [])].some(
      (p) => p === 'auth' || secretKeys.has(String(p)),
    );
    const shown = origin ? (secret ? '(secret, not shown)' : JSON.stringify(origin.value)) : '(not set)';
    const where = origin ? ` from ${origin.origin}` : '';
    const message =
      issue.code === 'unrecognized_keys' ? `unknown setting(s): ${issue.keys.join(', ')}` : issue.message;
    return `${key || '(root)'}${where} = ${shown}: ${message}`;
  });
}
