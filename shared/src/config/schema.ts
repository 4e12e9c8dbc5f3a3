/**
 * The one configuration schema. Sources, later ones winning: defaults < YAML file < environment
 * (FHIR_MIGRATE_*, and the seed tool's AZURE_* names as aliases) < CLI flags. See load.ts.
 */
import { z } from 'zod';
import { parseDuration } from '../domain/duration.ts';

const duration = z
  .string()
  .refine(
    (v) => {
      try {
        parseDuration(v);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'expected a duration such as 30d, 12h, 5m, 2s or 250ms' },
  )
  .transform((v) => parseDuration(v));

const httpUrl = z
  .string()
  .url({ message: 'expected an http(s) URL' })
  .refine((v) => /^https?:\/\//.test(v), { message: 'expected an http(s) URL' })
  .transform((v) => v.replace(/\/+$/, ''));

export const authSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }),
  z.object({ type: z.literal('bearer'), token: z.string().min(1) }),
  z.object({ type: z.literal('basic'), username: z.string().min(1), password: z.string() }),
  z.object({
    type: z.literal('client-credentials'),
    tokenUrl: httpUrl,
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    scope: z.string().optional(),
  }),
  /**
   * Microsoft Entra ID through `@azure/identity` (the top-level `azure` credential): a token for
   * `<server URL>/.default`, or for `scope`.
   */
  z.object({ type: z.literal('azure'), scope: z.string().min(1).optional() }),
]);
export type AuthConfig = z.infer<typeof authSchema>;

/**
 * The Entra ID credential every Azure client uses (FHIR servers with auth `azure`, Cosmos DB, Service Bus,
 * Blob Storage without a key). `default` is `DefaultAzureCredential` (environment, workload identity,
 * managed identity, Azure CLI); `managed-identity` uses only the managed identity (user-assigned when
 * `clientId`, or AZURE_CLIENT_ID, is set); `client-secret` an app registration's secret.
 */
export const azureCredentialSchema = z
  .object({
    credential: z.enum(['default', 'managed-identity', 'client-secret']).default('default'),
    tenantId: z.string().min(1).optional(),
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.credential === 'client-secret')
      for (const key of ['tenantId', 'clientId', 'clientSecret'] as const)
        if (!v[key])
          ctx.addIssue({ code: 'custom', path: [key], message: `credential client-secret needs ${key}` });
  });
export type AzureCredentialConfig = z.output<typeof azureCredentialSchema>;

/** The Azure $export parameters (exportDialect azure); see the Azure FHIR export documentation. */
const azureExportSchema = z
  .object({
    /** `_isParallel`: faster, at more RU cost on the source (the seed tool's default, true). */
    isParallel: z.boolean().default(true),
    /** `includeAssociatedData=_history`: every version in the window, not only the current one. */
    includeHistory: z.boolean().default(true),
    /** `includeAssociatedData=_deleted`: soft-deleted resources, carried to the destination as deletions. */
    includeDeleted: z.boolean().default(true),
    /** `_container`: the export storage account's container the files go to. */
    container: z
      .string()
      .regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, { message: 'expected a blob container name' })
      .optional(),
    maxCount: z.number().int().min(1).max(10_000).optional(),
    anonymizationConfig: z.string().min(1).optional(),
    anonymizationConfigEtag: z.string().min(1).optional(),
  })
  .strict();

const migrationId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { message: 'letters, digits, . _ - (max 63)' })
  .default('default');

/** Where ledger, bus and staging live: embedded (SQLite file, local folder) or on Azure. */
const storeFields = {
  /** Event-sourced chunk ledger: `sqlite` (in `state`) or `cosmos`. */
  ledger: z.enum(['sqlite', 'cosmos']).default('sqlite'),
  cosmos: z
    .object({
      endpoint: httpUrl,
      database: z.string().min(1).default('fhir-migrate'),
      container: z.string().min(1).default('ledger'),
      /** Account key (the emulator; accounts with local auth). Without it the `azure` credential is used. */
      key: z.string().min(1).optional(),
    })
    .strict()
    .optional(),
  /** Message bus: `sqlite` (in `state`) or `servicebus`. */
  bus: z.enum(['sqlite', 'servicebus']).default('sqlite'),
  serviceBus: z
    .object({
      /** Fully qualified namespace, e.g. `contoso.servicebus.windows.net` (with the `azure` credential). */
      namespace: z.string().min(1).optional(),
      /** A connection string instead (SAS key); a secret. */
      connectionString: z.string().min(1).optional(),
      /** Create missing topics and subscriptions (needs the Manage right); deployments create them. */
      manageTopology: z.boolean().default(false),
    })
    .strict()
    .optional(),
  state: z.string().default('fhir-migrate.sqlite'),
  azure: azureCredentialSchema.default({ credential: 'default' }),
};

/** Cross-field rules of the store settings: the chosen adapter's settings must be there. */
function checkStores(
  v: {
    ledger: string;
    cosmos?: unknown;
    bus: string;
    serviceBus?: { namespace?: string; connectionString?: string };
  },
  ctx: z.core.$RefinementCtx,
): void {
  if (v.ledger === 'cosmos' && !v.cosmos)
    ctx.addIssue({
      code: 'custom',
      path: ['cosmos', 'endpoint'],
      message: 'ledger cosmos needs cosmos.endpoint',
    });
  if (v.bus === 'servicebus' && !v.serviceBus?.namespace && !v.serviceBus?.connectionString)
    ctx.addIssue({
      code: 'custom',
      path: ['serviceBus', 'namespace'],
      message: 'bus servicebus needs serviceBus.namespace or serviceBus.connectionString',
    });
}

/** The settings of commands that only read and write the stores (status, dlq, service api). */
export const storesConfigSchema = z
  .object({
    migrationId,
    ...storeFields,
  })
  .superRefine(checkStores);
export type StoresConfig = z.output<typeof storesConfigSchema>;

const resourceType = z
  .string()
  .regex(/^[A-Z][A-Za-z]+$/, { message: 'expected a FHIR resource type name such as Patient' });

export const configSchema = z
  .object({
    migrationId,
    source: z.object({
      url: httpUrl,
      auth: authSchema.default({ type: 'none' }),
      exportDialect: z.enum(['hapi', 'bulkdata', 'azure']).default('hapi'),
      /** exportDialect azure: the `$export` parameters. */
      azureExport: azureExportSchema.default({
        isParallel: true,
        includeHistory: true,
        includeDeleted: true,
      }),
      /**
       * The storage account the source exports to (`https://<account>.blob.core.windows.net`): manifest
       * files there may be downloaded, with a Blob Storage token of the `azure` credential.
       */
      exportStorageUrl: httpUrl.optional(),
    }),
    destination: z.object({
      url: httpUrl,
      auth: authSchema.default({ type: 'none' }),
      importDialect: z.enum(['hapi', 'rest', 'ahds']).default('hapi'),
    }),
    chunkDuration: duration.default(parseDuration('30d')),
    chunkLimit: z.number().int().positive().default(100_000),
    safetyLag: duration.default(parseDuration('60s')),
    pollInterval: duration.default(parseDuration('5m')),
    /** Where the first window starts; by default the earliest lastUpdated found on the source. */
    startDate: z.string().datetime({ offset: true }).optional(),
    /** Types to migrate (and count); empty = every type the source exports. */
    resourceTypes: z.array(resourceType).default([]),
    maxConcurrentImports: z.number().int().min(1).max(50).default(5),
    /** How many chunks may be exported ahead of the last imported one. */
    exportAhead: z.number().int().min(1).max(50).default(1),
    deepCheckCount: z.number().int().min(0).default(10),
    maxAttempts: z.number().int().min(1).max(100).default(5),
    /** Per-attempt timeout of an HTTP request to either FHIR server (headers; and the idle gap of a download). */
    requestTimeout: duration.default(parseDuration('60s')),
    /** An $export or $import job still running after this long is cancelled and counted as a failed attempt. */
    jobTimeout: duration.default(parseDuration('24h')),
    restBundleSize: z.number().int().min(1).max(1000).default(100),
    restConcurrency: z.number().int().min(1).max(64).default(4),
    ...storeFields,
    /** Staging of export files: `folder` (local, served over HTTP) or `blob` (Azure Blob Storage). */
    staging: z.enum(['folder', 'blob']).default('folder'),
    blob: z
      .object({
        /** `https://<account>.blob.core.windows.net`, with the `azure` credential. */
        accountUrl: httpUrl.optional(),
        /** A connection string instead (account key; Azurite); a secret. */
        connectionString: z.string().min(1).optional(),
        container: z.string().min(3).default('staging'),
        /**
         * URLs handed to the destination: `plain` (AHDS `$import` reads with its own identity and refuses
         * SAS), `sas` (short-lived read-only SAS for other destinations). Default: plain for ahds, else sas.
         */
        urls: z.enum(['sas', 'plain']).optional(),
        createContainer: z.boolean().default(false),
      })
      .strict()
      .optional(),
    stagingDir: z.string().optional(),
    /** Address the staging HTTP server listens on and advertises to the destination. */
    stagingHost: z.string().default('127.0.0.1'),
    stagingPort: z.number().int().min(0).max(65535).default(0),
    /** The staging server's base URL as the destination reaches it (default: http://stagingHost:port). */
    stagingPublicUrl: httpUrl.optional(),
    surfaceCheckResources: z.array(resourceType).default([]),
    /** The status API and dashboard, served by `run` and `service api`. */
    apiHost: z.string().default('127.0.0.1'),
    /** 0 = any free port. */
    apiPort: z.number().int().min(0).max(65535).default(8080),
    /** `run` serves the API unless this is false (flag --no-api). */
    serveApi: z.boolean().default(true),
    /** Bearer token the API's mutating routes require; without one they are refused. */
    apiKey: z.string().min(16, { message: 'expected at least 16 characters' }).optional(),
    /** Quiet period `cutover` waits for: no writes on the source for this long. */
    cutoverQuietPeriod: duration.default(parseDuration('2m')),
  })
  .strict()
  .superRefine((v, ctx) => {
    checkStores(v, ctx);
    if (v.staging === 'blob' && !v.blob?.accountUrl && !v.blob?.connectionString)
      ctx.addIssue({
        code: 'custom',
        path: ['blob', 'accountUrl'],
        message: 'staging blob needs blob.accountUrl or blob.connectionString',
      });
    const versions = v.source.azureExport.includeHistory || v.source.azureExport.includeDeleted;
    if (v.source.exportDialect === 'azure' && versions && v.destination.importDialect !== 'ahds')
      ctx.addIssue({
        code: 'custom',
        path: [
          'source',
          'azureExport',
          v.source.azureExport.includeHistory ? 'includeHistory' : 'includeDeleted',
        ],
        message: `only importDialect ahds carries history and soft-deleted versions; with ${v.destination.importDialect} set includeHistory and includeDeleted to false (AZURE_ExportWithHistory=false, AZURE_ExportWithDelete=false)`,
      });
    if (v.destination.importDialect === 'ahds' && v.staging !== 'blob')
      ctx.addIssue({
        code: 'custom',
        path: ['staging'],
        message: 'importDialect ahds reads its files from Blob Storage: set staging to blob',
      });
  });

export type MigrationConfig = z.output<typeof configSchema>;
export type MigrationConfigInput = z.input<typeof configSchema>;
