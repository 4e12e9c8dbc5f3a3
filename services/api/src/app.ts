/**
 * The status and control API over the ledger and the bus: summary, timeline, chunks, events, failures,
 * verification runs, pause/resume/stop, dead letters, health, an OpenAPI document at /openapi.json and the
 * dashboard at /. buildApp never listens (tests use inject()); the CLI does.
 */
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { ApiDeps } from './deps.ts';
import { version } from './deps.ts';
import { registerRateLimits, resolveRateLimits } from './plugins/rate-limits.ts';
import { frameworkProblem, registerProblems, sendProblem } from './problem.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { healthRoutes } from './routes/health.ts';
import { migrationRoutes } from './routes/migrations.ts';
import { operationRoutes } from './routes/operations.ts';

export type { ApiDeps } from './deps.ts';

/** Longer URLs are refused with 414 before routing work is spent on them; the dashboard's are far shorter. */
const maxUrlLength = 2048;

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const limits = resolveRateLimits(deps.rateLimits);
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    // Time to receive a whole request (headers and body): a slow client cannot hold a socket for ever.
    requestTimeout: 30_000,
    // A path segment longer than any id (migration ids have at most 63 characters): 414.
    routerOptions: { maxParamLength: 64 },
    frameworkErrors: frameworkProblem,
  });
  if (deps.onRoute) app.addHook('onRoute', deps.onRoute);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const failedTokens = await registerRateLimits(app, limits);
  app.addHook('onRequest', async (request, reply) => {
    if (request.url.length > maxUrlLength)
      return sendProblem(reply, 414, `the URL is longer than ${maxUrlLength} characters`);
  });
  registerProblems(app, deps.logError);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'fhir-migrate API',
        version,
        description:
          'Status, control and verification of a FHIR migration. Mutating routes need a bearer token.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(async (scope) => {
    await healthRoutes(scope, deps);
    await migrationRoutes(scope, deps);
    await operationRoutes(scope, deps, failedTokens);
    await dashboardRoutes(scope);
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
