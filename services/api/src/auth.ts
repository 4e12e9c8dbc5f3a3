/**
 * Mutating routes need `Authorization: Bearer <api key>`. Without a configured key they are refused
 * outright — an API that changes a production migration is never open by default. A client that presented
 * too many missing or wrong tokens is refused with 429 until its window ends, before its token is compared.
 * No answer repeats the token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type FailedTokens, sendRetryLater } from './plugins/rate-limits.ts';
import { sendProblem } from './problem.ts';

const digest = (v: string) => createHash('sha256').update(v).digest();

export function requireToken(apiKey: string | undefined, failures: FailedTokens) {
  const expected = apiKey ? digest(apiKey) : undefined;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!expected)
      return sendProblem(
        reply,
        403,
        'changes through the API are disabled: no API key is configured (FHIR_MIGRATE_API_KEY or --api-key)',
      );
    const wait = await failures.lockedFor(request);
    if (wait !== undefined)
      return sendRetryLater(reply, wait, 'too many missing or wrong bearer tokens from this address');
    const header = request.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token || !timingSafeEqual(digest(token), expected)) {
      await failures.record(request);
      reply.header('www-authenticate', 'Bearer realm="fhir-migrate"');
      return sendProblem(reply, 401, token ? 'the bearer token is not valid' : 'a bearer token is required');
    }
  };
}

/** Who made a change, for the ledger: never the token itself. */
export function actor(request: FastifyRequest): string {
  return `api ${request.ip}`;
}
