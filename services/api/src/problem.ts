/**
 * Errors as RFC 9457 problem details (application/problem+json), mapped in one place: validation → 400,
 * typed application errors → their status, anything else → 500 without internals.
 */
import { ControlError } from '@fhir-migrate/shared/application/control.ts';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
}

const titles: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  413: 'Payload too large',
  414: 'URI too long',
  415: 'Unsupported media type',
  429: 'Too many requests',
  500: 'Internal error',
  503: 'Service unavailable',
};

export function sendProblem(reply: FastifyReply, status: number, detail?: string): FastifyReply {
  const body: Problem = { type: 'about:blank', title: titles[status] ?? 'Error', status };
  if (detail) body.detail = detail;
  return reply.status(status).type('application/problem+json').send(body);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * Errors the router raises before a request reaches any hook (Fastify's `frameworkErrors`): a path that is
 * not valid URL encoding, or a path segment over maxParamLength. Answered without echoing the path.
 */
export function frameworkProblem(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const details: Record<string, string> = {
    FST_ERR_BAD_URL: 'the URL is not valid: a path segment is not valid percent-encoding',
    FST_ERR_MAX_PARAM_LENGTH: 'a path segment is longer than any id this API knows',
  };
  sendProblem(reply, error.statusCode ?? 400, details[error.code] ?? 'the request could not be routed');
}

export function registerProblems(app: FastifyInstance, log?: (err: unknown) => void): void {
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, 404, `no route ${request.method} ${request.url.split('?')[0]?.slice(0, 200)}`),
  );
  app.setErrorHandler((error, _request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error))
      return sendProblem(
        reply,
        400,
        `${error.validationContext ?? 'request'}: ${error.validation.map((v) => `${v.instancePath || '/'} ${v.message}`).join('; ')}`,
      );
    if (error instanceof ApiError) return sendProblem(reply, error.status, error.message);
    if (error instanceof ControlError) return sendProblem(reply, 409, error.message);
    const status =
      typeof (error as { statusCode?: unknown }).statusCode === 'number'
        ? (error as { statusCode: number }).statusCode
        : 500;
    if (status >= 400 && status < 500) return sendProblem(reply, status, (error as Error).message);
    log?.(error);
    return sendProblem(reply, 500, 'the request could not be completed; the server log has the details');
  });
}
