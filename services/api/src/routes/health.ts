/** Liveness (`/healthz`: the process answers), readiness (`/readyz`: ledger and bus reachable) and info. */
import { summarize } from '@fhir-migrate/shared/application/summary.ts';
import type { FastifyInstance } from 'fastify';
import { type ApiDeps, version } from '../deps.ts';
import { sendProblem } from '../problem.ts';

export async function healthRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  app.get('/healthz', { schema: { summary: 'Liveness', tags: ['health'] } }, async () => ({ status: 'ok' }));

  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: ledger and bus reachable', tags: ['health'] } },
    async (_request, reply) => {
      try {
        await deps.ledger.readStream(deps.migrationId, 'migration');
        await deps.bus.listDeadLetters('plan-tick', 'planner');
        const notReady = await deps.ready?.();
        if (notReady) return sendProblem(reply, 503, notReady);
        return { status: 'ready' };
      } catch (err) {
        deps.logError?.(err);
        return sendProblem(reply, 503, 'the ledger or the bus is not reachable');
      }
    },
  );

  app.get(
    '/api/info',
    { schema: { summary: 'Which migration this API serves', tags: ['status'] } },
    async () => {
      const summary = await summarize(deps.ledger, deps.migrationId, deps.now?.() ?? new Date());
      return {
        migrationId: deps.migrationId,
        sourceUrl: summary.sourceUrl ?? deps.sourceUrl,
        destinationUrl: summary.destinationUrl ?? deps.destinationUrl,
        version,
        mutationsEnabled: deps.apiKey !== undefined,
      };
    },
  );
}
