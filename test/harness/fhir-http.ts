/**
 * The few FHIR HTTP calls the test harness makes by itself (reads, counts and the raw bulk operations),
 * independent of the product's own client so that tests can check the product against it.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const fhirJson = 'application/fhir+json';

export class FhirHttpError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${url} answered HTTP ${status}: ${body.slice(0, 500)}`);
  }
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: { accept: fhirJson, 'cache-control': 'no-cache' } });
  const body = await res.text();
  if (!res.ok) throw new FhirHttpError(url, res.status, body);
  return JSON.parse(body) as T;
}

/** Exact count of `type` matching `query` (e.g. `_lastUpdated=ge2026-01-01T00:00:00Z`). */
export async function countOf(baseUrl: string, type: string, query = ''): Promise<number> {
  const bundle = await getJson<{ total?: number }>(
    `${baseUrl}/${type}?_summary=count${query ? `&${query}` : ''}`,
  );
  if (typeof bundle.total !== 'number') throw new Error(`${baseUrl}/${type} count returned no total`);
  return bundle.total;
}

export interface PollResult {
  status: number;
  body: string;
  headers: Headers;
  polls: number;
}

/**
 * Polls an async-request status URL until it stops answering 202. Retry-After is honoured but capped
 * at `maxWaitMs` per poll, since HAPI always says 120 s for jobs that finish in seconds.
 */
export async function pollUntilDone(
  url: string,
  options: { timeoutMs: number; maxWaitMs?: number },
): Promise<PollResult> {
  const deadline = Date.now() + options.timeoutMs;
  let polls = 0;
  while (Date.now() < deadline) {
    const res = await fetch(url, { headers: { accept: 'application/json' } });
    const body = await res.text();
    polls++;
    if (res.status !== 202) return { status: res.status, body, headers: res.headers, polls };
    const retryAfter = Number(res.headers.get('retry-after') ?? '1') * 1000;
    await sleep(Math.min(Number.isFinite(retryAfter) ? retryAfter : 1000, options.maxWaitMs ?? 1000));
  }
  throw new Error(`${url} still answered 202 after ${options.timeoutMs / 1000}s (${polls} polls)`);
}

/** Starts an async bulk request (Prefer: respond-async) and returns its status URL. */
export async function kickOff(url: string, init: { method: 'GET' | 'POST'; body?: string }): Promise<string> {
  const res = await fetch(url, {
    method: init.method,
    headers: {
      accept: fhirJson,
      prefer: 'respond-async',
      ...(init.body ? { 'content-type': fhirJson } : {}),
    },
    ...(init.body ? { body: init.body } : {}),
  });
  const body = await res.text();
  if (res.status !== 202) throw new FhirHttpError(url, res.status, body);
  const location = res.headers.get('content-location');
  if (!location) throw new Error(`${url} answered 202 without Content-Location`);
  return location;
}
