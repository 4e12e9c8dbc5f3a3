/**
 * Sends `batch` Bundles for the REST importer with adaptive concurrency: a 429 (for the whole Bundle or for
 * single entries) halves the number of Bundles in flight and pauses sending for the server's Retry-After;
 * every few successes the limit grows by one again, up to the configured maximum (AIMD).
 *
 * Entries are pre-serialised JSON text joined by string concatenation, so resources reach the server
 * byte for byte as they were read. A Bundle the server rejects as a whole (400, 413, 422) is split in halves
 * until the offending entry stands alone. Failures that are not about an entry throw: 5xx and network
 * failures left after the client's retries and throttling beyond `maxThrottleRetries` as retryable errors
 * (the caller re-applies the whole file, which is safe because PUT and DELETE are idempotent), other 4xx
 * (401, 403, 404, 405…) as permanent ones.
 */
import { z } from 'zod';
import type { FhirClient } from '../client.ts';
import { FhirHttpError } from '../errors.ts';
import { parseOperationOutcome, summarizeOutcome, truncate } from '../operation-outcome.ts';
import { redactText } from '../redact.ts';
import { backoffDelayMs, parseRetryAfterMs, type RetryPolicy } from '../retry.ts';

export interface BatchEntry {
  /** One Bundle entry as JSON text, e.g. `{"resource":…,"request":{"method":"PUT","url":"Patient/1"}}`. */
  json: string;
  /** Called exactly once with the entry's final HTTP status and, when it failed, a reason. */
  settle(outcome: { status?: number; reason?: string }): void;
}

export interface BatchSenderOptions {
  /** Most Bundles in flight. */
  concurrency: number;
  /** 429 answers tolerated per entry before giving up with a retryable error. Default 10. */
  maxThrottleRetries?: number;
  /** Waits after a 429 without Retry-After. Default base 1,000 ms, max 60,000 ms. */
  backoff?: Partial<Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>>;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

export interface BatchSender {
  /** Sends the entries as one Bundle (splitting or re-sending as needed); resolves when all are settled. */
  send(entries: BatchEntry[]): Promise<void>;
  /** The current concurrency limit: callers feeding `send` keep at most this many Bundles pending. */
  readonly limit: number;
}

const bisectStatuses = new Set([400, 413, 422]);

const batchResponseSchema = z.object({
  resourceType: z.literal('Bundle'),
  entry: z
    .array(
      z.object({
        response: z.object({ status: z.string(), outcome: z.unknown().optional() }).optional(),
        resource: z.unknown().optional(),
      }),
    )
    .default([]),
});

export function createBatchSender(client: FhirClient, options: BatchSenderOptions): BatchSender {
  const max = Math.max(1, options.concurrency);
  const maxThrottleRetries = options.maxThrottleRetries ?? 10;
  const policy: RetryPolicy = {
    maxAttempts: maxThrottleRetries + 1,
    baseDelayMs: options.backoff?.baseDelayMs ?? 1_000,
    maxDelayMs: options.backoff?.maxDelayMs ?? 60_000,
  };
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;

  let limit = max;
  let active = 0;
  let pauseUntil = 0;
  let successStreak = 0;
  const waiters: (() => void)[] = [];

  async function acquire(): Promise<void> {
    for (;;) {
      const pause = pauseUntil - now();
      if (pause > 0) {
        await sleep(pause);
        continue;
      }
      if (active < limit) {
        active++;
        return;
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  }

  function release(): void {
    active--;
    waiters.shift()?.();
  }

  function throttled(retryAfterMs: number | undefined, throttles: number): void {
    limit = Math.max(1, Math.floor(limit / 2));
    successStreak = 0;
    const wait = retryAfterMs ?? backoffDelayMs(throttles, policy, random);
    pauseUntil = Math.max(pauseUntil, now() + wait);
  }

  function succeeded(): void {
    // Additive increase, slowly: one more Bundle in flight after 2 × limit clean replies.
    if (limit < max && ++successStreak >= 2 * limit) {
      limit++;
      successStreak = 0;
      waiters.shift()?.();
    }
  }

  async function post(body: string) {
    await acquire();
    try {
      return await client.text({
        method: 'POST',
        url: client.baseUrl,
        headers: {
          accept: 'application/fhir+json',
          'content-type': 'application/fhir+json',
          prefer: 'return=minimal',
        },
        body,
        // A batch of PUTs/DELETEs with client ids can be replayed safely.
        idempotent: true,
        retryStatuses: [500, 502, 503, 504],
        throwOnError: false,
      });
    } finally {
      release();
    }
  }

  async function send(entries: BatchEntry[], throttles = 0): Promise<void> {
    if (entries.length === 0) return;
    const res = await post(
      `{"resourceType":"Bundle","type":"batch","entry":[${entries.map((e) => e.json).join(',')}]}`,
    );
    const retryAfterMs = parseRetryAfterMs(res.headers, now(), policy.maxDelayMs);
    if (res.status === 429) {
      if (throttles >= maxThrottleRetries) throw tooManyThrottles(res);
      throttled(retryAfterMs, throttles + 1);
      return send(entries, throttles + 1);
    }
    if (res.status >= 400) {
      if (bisectStatuses.has(res.status) && entries.length > 1) {
        const half = Math.ceil(entries.length / 2);
        await Promise.all([send(entries.slice(0, half), throttles), send(entries.slice(half), throttles)]);
        return;
      }
      // Not about one entry (auth, routing, server trouble): the whole file fails, retryable if transient.
      if (!bisectStatuses.has(res.status)) throw httpError(res, res.status >= 500);
      const reason = reasonOf(res.status, parseOperationOutcome(res.body), res.body);
      for (const entry of entries) entry.settle({ status: res.status, reason });
      return;
    }
    const parsed = parseBatchResponse(res.body);
    if (!parsed || parsed.length !== entries.length) {
      const reason = parsed
        ? `batch-response has ${parsed.length} entries for ${entries.length} requests`
        : 'reply is not a batch-response Bundle';
      for (const entry of entries) entry.settle({ reason });
      return;
    }
    const again: BatchEntry[] = [];
    parsed.forEach((outcome, i) => {
      const entry = entries[i];
      if (!entry) return;
      if (outcome.status === 429) again.push(entry);
      else entry.settle(outcome);
    });
    if (again.length === 0) {
      succeeded();
      return;
    }
    if (throttles >= maxThrottleRetries) throw tooManyThrottles(res);
    throttled(retryAfterMs, throttles + 1);
    await send(again, throttles + 1);
  }

  function tooManyThrottles(res: { url: string; attempts: number }): FhirHttpError {
    return new FhirHttpError({
      kind: 'http',
      method: 'POST',
      url: res.url,
      status: 429,
      attempts: res.attempts,
      retryable: true,
      detail: `still throttled after ${maxThrottleRetries} back-offs`,
    });
  }

  return {
    send: (entries) => send(entries),
    get limit() {
      return limit;
    },
  };
}

/** Per-entry status and failure reason of a batch-response; undefined when the body is not one. */
export function parseBatchResponse(body: string): { status?: number; reason?: string }[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = batchResponseSchema.safeParse(value);
  if (!parsed.success) return undefined;
  return parsed.data.entry.map((entry) => {
    const statusText = entry.response?.status ?? '';
    const status = /^(\d{3})/.exec(statusText)?.[1];
    if (!status) return { reason: 'entry has no response status' };
    const code = Number(status);
    if (code >= 200 && code < 300) return { status: code };
    const outcome = parseOperationOutcome(entry.response?.outcome) ?? parseOperationOutcome(entry.resource);
    return { status: code, reason: reasonOf(code, outcome, statusText) };
  });
}

function reasonOf(
  status: number,
  outcome: ReturnType<typeof parseOperationOutcome>,
  fallback: string,
): string {
  const detail = outcome ? summarizeOutcome(outcome, 300) : truncate(redactText(fallback.trim()), 300);
  return detail ? `HTTP ${status}: ${detail}` : `HTTP ${status}`;
}

function httpError(res: { url: string; status: number; attempts: number; body: string }, retryable: boolean) {
  const outcome = parseOperationOutcome(res.body);
  return new FhirHttpError({
    kind: 'http',
    method: 'POST',
    url: res.url,
    status: res.status,
    attempts: res.attempts,
    retryable,
    ...(outcome ? { outcome } : { body: res.body }),
  });
}
