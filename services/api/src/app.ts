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
import { registerProblems } from './problem.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { healthRoutes } from './routes/health.ts';
import { migrationRoutes } from './routes/migrations.ts';
import { operationRoutes } from './routes/operations.ts';

export type { ApiDeps } from './deps.ts';

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
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
    await operationRoutes(scope, deps);
    await dashboardRoutes(scope);
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
