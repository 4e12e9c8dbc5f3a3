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
]);
export type AuthConfig = z.infer<typeof authSchema>;

const resourceType = z
  .string()
  .regex(/^[A-Z][A-Za-z]+$/, { message: 'expected a FHIR resource type name such as Patient' });

export const configSchema = z
  .object({
    migrationId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { message: 'letters, digits, . _ - (max 63)' })
      .default('default'),
    source: z.object({
      url: httpUrl,
      auth: authSchema.default({ type: 'none' }),
      exportDialect: z.enum(['hapi', 'bulkdata']).default('hapi'),
    }),
    destination: z.object({
      url: httpUrl,
      auth: authSchema.default({ type: 'none' }),
      importDialect: z.enum(['hapi', 'rest']).default('hapi'),
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
    state: z.string().default('fhir-migrate.sqlite'),
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
  .strict();

export type MigrationConfig = z.output<typeof configSchema>;
export type MigrationConfigInput = z.input<typeof configSchema>;
