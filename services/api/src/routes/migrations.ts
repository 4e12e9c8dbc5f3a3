/** Read routes: the migration summary, its timeline, chunks, one chunk's events and failed resources. */
import { failureRows, summarize, timeline } from '@fhir-migrate/shared/application/summary.ts';
import { chunkStatuses } from '@fhir-migrate/shared/domain/chunk.ts';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type ApiDeps, migrationParams, paging } from '../deps.ts';
import { ApiError } from '../problem.ts';

/** A chunk's status as the API filters on it: every status but the domain's 'initial' (no chunk yet). */
const chunkStatus = z.enum(chunkStatuses).exclude(['initial']);

export async function migrationRoutes(root: FastifyInstance, deps: ApiDeps): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const now = deps.now ?? (() => new Date());

  app.get(
    '/api/migrations/:migrationId',
    { schema: { summary: 'Migration summary', tags: ['status'], params: migrationParams } },
    async (request) => {
      // A migration that has not started answers started: false (the dashboard shows it waiting).
      const { list: _list, ...summary } = await summarize(deps.ledger, request.params.migrationId, now());
      return summary;
    },
  );

  app.get(
    '/api/migrations/:migrationId/timeline',
    {
      schema: {
        summary: 'Watermark against wall-clock time, one point per settled chunk',
        tags: ['status'],
        params: migrationParams,
      },
    },
    async (request) => ({ points: await timeline(deps.ledger, request.params.migrationId) }),
  );

  app.get(
    '/api/migrations/:migrationId/chunks',
    {
      schema: {
        summary: 'Chunks in window order',
        tags: ['status'],
        params: migrationParams,
        querystring: z.object({
          status: chunkStatus.optional(),
          /** desc: newest window first. */
          order: z.enum(['asc', 'desc']).default('asc'),
          ...paging,
        }),
      },
    },
    async (request) => {
      const { list } = await summarize(deps.ledger, request.params.migrationId, now());
      const { status, order, offset, limit } = request.query;
      const matching = list.filter((c) => !status || c.status === status);
      if (order === 'desc') matching.reverse();
      return { total: matching.length, offset, limit, items: matching.slice(offset, offset + limit) };
    },
  );

  app.get(
    '/api/migrations/:migrationId/chunks/:chunkId/events',
    {
      schema: {
        summary: "One chunk's event history",
        tags: ['status'],
        params: migrationParams.extend({
          chunkId: z.string().regex(/^chunk-\d{6}$/, 'expected chunk-NNNNNN'),
        }),
      },
    },
    async (request) => {
      const events = await deps.ledger.readStream(request.params.migrationId, request.params.chunkId);
      if (events.length === 0) throw new ApiError(404, `no chunk ${request.params.chunkId}`);
      return events.map(({ id, seq, type, at, data }) => ({ id, seq, type, at, data }));
    },
  );

  app.get(
    '/api/migrations/:migrationId/failures',
    {
      schema: {
        summary: 'Resources that could not be carried, with reason and source line',
        tags: ['status'],
        params: migrationParams,
        querystring: z.object({ type: z.string().optional(), chunkId: z.string().optional(), ...paging }),
      },
    },
    async (request) => {
      const { type, chunkId, offset, limit } = request.query;
      const rows = (await failureRows(deps.ledger, request.params.migrationId)).filter(
        (r) => (!type || r.type === type) && (!chunkId || r.chunkId === chunkId),
      );
      return { total: rows.length, offset, limit, items: rows.slice(offset, offset + limit) };
    },
  );
}
