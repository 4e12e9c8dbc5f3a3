/**
 * Per-client limits (by address; IPv6 by /64), counted in memory by @fastify/rate-limit: reads (GET, HEAD,
 * OPTIONS), changes (every other method) and failed bearer tokens, each in its own fixed window. Over a
 * limit the API answers 429 problem+json with Retry-After. The defaults are listed once, here.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendProblem } from '../problem.ts';

export interface Limit {
  /** Requests (or failed tokens) allowed per client in one window. */
  max: number;
  windowMs: number;
}

export interface RateLimits {
  /** GET, HEAD and OPTIONS: the dashboard polls about ten reads every 2 s. */
  reads: Limit;
  /** Every other method: pause, resume, stop, verification requests, dead-letter replays. */
  writes: Limit;
  /** Requests to a mutating route with a missing or wrong bearer token; past the limit even a right one waits. */
  authFailures: Limit;
}

export type RateLimitSettings = { [K in keyof RateLimits]?: Partial<Limit> };

export const defaultRateLimits: RateLimits = {
  reads: { max: 1200, windowMs: 60_000 },
  writes: { max: 30, windowMs: 60_000 },
  authFailures: { max: 10, windowMs: 15 * 60_000 },
};

const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Merges settings over the defaults; a limit that is not a positive whole number stops the build. */
export function resolveRateLimits(settings: RateLimitSettings = {}): RateLimits {
  const resolve = (name: keyof RateLimits): Limit => {
    const limit = { ...defaultRateLimits[name], ...settings[name] };
    for (const [field, value] of Object.entries(limit))
      if (!Number.isSafeInteger(value) || value < 1)
        throw new Error(`rateLimits.${name}.${field} = ${value}: expected a whole number of at least 1`);
    return limit;
  };
  return { reads: resolve('reads'), writes: resolve('writes'), authFailures: resolve('authFailures') };
}

export function sendRetryLater(reply: FastifyReply, seconds: number, detail: string): FastifyReply {
  reply.header('retry-after', String(Math.max(1, seconds)));
  return sendProblem(reply, 429, detail);
}

/** Failed bearer tokens per client: checked before a token is compared, counted after a refusal. */
export interface FailedTokens {
  /** Seconds until this client may present a token again, or undefined when it may now. */
  lockedFor(request: FastifyRequest): Promise<number | undefined>;
  record(request: FastifyRequest): Promise<void>;
}

const seconds = (ms: number) => `${Math.ceil(ms / 1000)} s`;

/** Registers the limiter on every request (known routes and unknown ones alike) before any route exists. */
export async function registerRateLimits(app: FastifyInstance, limits: RateLimits): Promise<FailedTokens> {
  await app.register(rateLimit, { global: false });
  const counter = (limit: Limit) => app.createRateLimit({ max: limit.max, timeWindow: limit.windowMs });
  const reads = counter(limits.reads);
  const writes = counter(limits.writes);
  const failures = counter(limits.authFailures);

  app.addHook('onRequest', async (request, reply) => {
    const read = readMethods.has(request.method);
    const count = await (read ? reads : writes)(request);
    if (count.isAllowed) return;
    reply
      .header('x-ratelimit-limit', String(count.max))
      .header('x-ratelimit-remaining', String(count.remaining))
      .header('x-ratelimit-reset', String(count.ttlInSeconds));
    if (count.isExceeded) {
      const limit = read ? limits.reads : limits.writes;
      return sendRetryLater(
        reply,
        count.ttlInSeconds,
        `more than ${limit.max} ${read ? 'reads' : 'changes'} in ${seconds(limit.windowMs)} from this address`,
      );
    }
  });

  return {
    async lockedFor(request) {
      const count = await failures(request, { increment: false });
      return !count.isAllowed && count.remaining === 0 ? Math.max(1, count.ttlInSeconds) : undefined;
    },
    async record(request) {
      await failures(request);
    },
  };
}
