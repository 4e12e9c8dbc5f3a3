/**
 * The minimal status API over the ledger: health, the migration summary, chunks and one chunk's events.
 * buildApp never listens (tests use inject()); main.ts does. The full API and dashboard come later.
 */
import { summarize } from '@fhir-migrate/shared/application/summary.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

export interface ApiDeps {
  ledger: Ledger;
  now?: () => Date;
}

const migrationParams = z.object({ migrationId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/) });

export function buildApp(deps: ApiDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const now = deps.now ?? (() => new Date());

  app.setErrorHandler(
    (error: { validation?: unknown; statusCode?: number; message?: string }, _request, reply) => {
      const status = error.validation ? 400 : (error.statusCode ?? 500);
      reply
        .status(status)
        .type('application/problem+json')
        .send({
          type: 'about:blank',
          title: status === 400 ? 'Bad request' : 'Internal error',
          status,
          detail: status === 400 ? error.message : undefined,
        });
    },
  );

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/api/migrations/:migrationId', { schema: { params: migrationParams } }, async (request) => {
    const { list: _list, ...summary } = await summarize(deps.ledger, request.params.migrationId, now());
    return summary;
  });

  app.get(
    '/api/migrations/:migrationId/chunks',
    { schema: { params: migrationParams, querystring: z.object({ status: z.string().optional() }) } },
    async (request) => {
      const summary = await summarize(deps.ledger, request.params.migrationId, now());
      return summary.list.filter((c) => !request.query.status || c.status === request.query.status);
    },
  );

  app.get(
    '/api/migrations/:migrationId/chunks/:chunkId/events',
    { schema: { params: migrationParams.extend({ chunkId: z.string().regex(/^chunk-\d{6}$/) }) } },
    async (request, reply) => {
      const events = await deps.ledger.readStream(request.params.migrationId, request.params.chunkId);
      if (events.length === 0) {
        return reply
          .status(404)
          .type('application/problem+json')
          .send({
            type: 'about:blank',
            title: 'Not found',
            status: 404,
            detail: `no chunk ${request.params.chunkId}`,
          });
      }
      return events;
    },
  );

  return app;
}
