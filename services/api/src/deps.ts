/** What the API works with: the ledger and the bus of the migration it serves, and its settings. */
import type { Bus } from '@fhir-migrate/shared/ports/bus.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import type { RouteOptions } from 'fastify';
import { z } from 'zod';
import type { RateLimitSettings } from './plugins/rate-limits.ts';

export interface ApiDeps {
  ledger: Ledger;
  bus: Bus;
  /** The migration `/api/info` names (the dashboard shows it). */
  migrationId: string;
  sourceUrl?: string;
  destinationUrl?: string;
  /** Bearer token for mutating routes; without it they answer 403. */
  apiKey?: string;
  now?: () => Date;
  /** Extra readiness probe (e.g. the pipeline's services are subscribed). */
  ready?: () => Promise<string | undefined>;
  /** Where unexpected errors are logged (never sent to clients). */
  logError?: (err: unknown) => void;
  /** Per-client request limits over the defaults (plugins/rate-limits.ts). */
  rateLimits?: RateLimitSettings;
  /** Told of every route as it is registered, before any of them (for audits and tests). */
  onRoute?: (route: RouteOptions) => void;
}

export const migrationParams = z.object({
  migrationId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'letters, digits, . _ - (max 63)'),
});

export const paging = {
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
};

export const version = '0.1.0';
