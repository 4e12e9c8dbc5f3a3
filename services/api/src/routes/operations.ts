/** Mutating routes (bearer token): pause/resume/stop, request a verification, replay dead letters. */
import { applyControl } from '@fhir-migrate/shared/application/control.ts';
import { listAllDeadLetters, replayDeadLetters } from '@fhir-migrate/shared/application/dead-letters.ts';
import {
  listVerifications,
  loadVerification,
  requestVerification,
} from '@fhir-migrate/shared/application/verifications.ts';
import { verificationRequest } from '@fhir-migrate/shared/contracts/verification-events.ts';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actor, requireToken } from '../auth.ts';
import { type ApiDeps, migrationParams } from '../deps.ts';
import type { FailedTokens } from '../plugins/rate-limits.ts';
import { ApiError } from '../problem.ts';

export async function operationRoutes(
  root: FastifyInstance,
  deps: ApiDeps,
  failedTokens: FailedTokens,
): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const now = deps.now ?? (() => new Date());
  // On request, before the body is read: a refused caller costs no parsing and learns nothing from validation.
  const auth = requireToken(deps.apiKey, failedTokens);
  const security = [{ bearer: [] }];

  for (const action of ['pause', 'resume', 'stop'] as const) {
    app.post(
      `/api/migrations/:migrationId/${action}`,
      {
        onRequest: auth,
        schema: {
          summary: {
            pause: 'Plan no new chunks (in-flight chunks finish)',
            resume: 'Plan again',
            stop: 'Stop for good',
          }[action],
          tags: ['control'],
          security,
          params: migrationParams,
        },
      },
      async (request, reply) => {
        const control = await applyControl(deps, request.params.migrationId, action, actor(request), now());
        return reply.status(202).send({ control });
      },
    );
  }

  app.get(
    '/api/migrations/:migrationId/verifications',
    {
      schema: { summary: 'Verification runs, newest first', tags: ['verification'], params: migrationParams },
    },
    async (request) => ({ items: await listVerifications(deps.ledger, request.params.migrationId) }),
  );

  app.get(
    '/api/migrations/:migrationId/verifications/:runId',
    {
      schema: {
        summary: 'One verification run',
        tags: ['verification'],
        params: migrationParams.extend({
          runId: z.string().regex(/^[0-9T]{18}-[0-9a-f]{6}$/, 'expected a run id'),
        }),
      },
    },
    async (request) => {
      const run = await loadVerification(deps.ledger, request.params.migrationId, request.params.runId);
      if (!run) throw new ApiError(404, `no verification run ${request.params.runId}`);
      return run;
    },
  );

  app.post(
    '/api/migrations/:migrationId/verifications',
    {
      onRequest: auth,
      schema: {
        summary: 'Request a verification run (surface, deep or full); the verifier service carries it out',
        tags: ['verification'],
        security,
        params: migrationParams,
        body: verificationRequest,
      },
    },
    async (request, reply) => {
      const runId = await requestVerification(
        deps,
        request.params.migrationId,
        request.body,
        actor(request),
        now(),
      );
      return reply
        .status(202)
        .header('location', `/api/migrations/${request.params.migrationId}/verifications/${runId}`)
        .send({ runId });
    },
  );

  app.get(
    '/api/dead-letters',
    {
      schema: {
        summary: 'Dead-lettered bus messages of every subscription',
        tags: ['dead letters'],
        querystring: z.object({ migrationId: migrationParams.shape.migrationId.optional() }),
      },
    },
    async (request) => ({ items: await listAllDeadLetters(deps.bus, request.query.migrationId) }),
  );

  app.post(
    '/api/dead-letters/replay',
    {
      onRequest: auth,
      schema: {
        summary:
          'Move dead letters back to their subscriptions (idempotent: handlers ignore steps already done)',
        tags: ['dead letters'],
        security,
        body: z.union([
          z.object({ ids: z.array(z.string().min(1)).min(1).max(1000) }).strict(),
          z
            .object({ all: z.literal(true), migrationId: migrationParams.shape.migrationId.optional() })
            .strict(),
        ]),
      },
    },
    async (request) => {
      const body = request.body;
      const result =
        'ids' in body
          ? await replayDeadLetters(deps.bus, { ids: body.ids })
          : await replayDeadLetters(deps.bus, { all: true }, body.migrationId);
      return {
        replayed: result.replayed.length,
        ids: result.replayed.map((d) => d.id),
        notFound: result.notFound,
      };
    },
  );
}
