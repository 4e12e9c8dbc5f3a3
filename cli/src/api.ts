/** Serving the status API and dashboard from a process that already holds the ledger and the bus. */
import { buildApp } from '@fhir-migrate/api/src/app.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { reasonOf } from '@fhir-migrate/shared/application/errors.ts';
import type { Bus } from '@fhir-migrate/shared/ports/bus.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import type { Logger } from 'pino';

export interface ApiSettings {
  ledger: Ledger;
  bus: Bus;
  migrationId: string;
  host: string;
  port: number;
  apiKey?: string;
  sourceUrl?: string;
  destinationUrl?: string;
}

export async function listenApi(
  settings: ApiSettings,
  log: Logger,
): Promise<{ url: string; close(): Promise<void> }> {
  const app = await buildApp({
    ledger: settings.ledger,
    bus: settings.bus,
    migrationId: settings.migrationId,
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
    ...(settings.sourceUrl ? { sourceUrl: settings.sourceUrl } : {}),
    ...(settings.destinationUrl ? { destinationUrl: settings.destinationUrl } : {}),
    logError: (err) => log.error({ reason: reasonOf(err) }, 'api request failed'),
  });
  try {
    await app.listen({ host: settings.host, port: settings.port });
  } catch (err) {
    await app.close();
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'EADDRINUSE'
        ? `the API port ${settings.host}:${settings.port} is in use: choose another with --api-port (0 = any free port) or turn the API off with --no-api`
        : `the API could not listen on ${settings.host}:${settings.port}: ${reasonOf(err)}`,
    );
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : settings.port;
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  return { url: `http://${host}:${port}/`, close: () => app.close() };
}

export async function startApi(ctx: PipelineContext, log: Logger): Promise<{ close(): Promise<void> }> {
  const { config } = ctx;
  const api = await listenApi(
    {
      ledger: ctx.ledger,
      bus: ctx.bus,
      migrationId: config.migrationId,
      host: config.apiHost,
      port: config.apiPort,
      ...(config.apiKey ? { apiKey: config.apiKey } : {}),
      sourceUrl: config.source.url,
      destinationUrl: config.destination.url,
    },
    log,
  );
  process.stderr.write(
    `[fhir-migrate] dashboard and API at ${api.url}${config.apiKey ? '' : ' (read-only: no API key configured)'}\n`,
  );
  return api;
}
