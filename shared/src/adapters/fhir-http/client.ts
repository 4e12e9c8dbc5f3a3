/**
 * The FHIR HTTP client: one long-lived client per server, built on undici's `request` (streaming bodies are
 * never buffered). It adds auth and a User-Agent, retries transient failures (see `retry.ts` for which ones,
 * and why POSTs are special), applies timeouts and turns every failure into a {@link FhirHttpError} whose
 * message and fields are redacted.
 *
 * Timeouts: `text`/`json` requests have a total per-attempt timeout (`timeoutMs`, default 60 s, covering
 * headers and body). `stream` requests have a headers timeout (`timeoutMs`) and an idle timeout between body
 * chunks (`idleTimeoutMs`), but no total, since a large NDJSON download may take long; a failure in the middle
 * of a stream surfaces as an error on the stream (the caller re-opens it; the client cannot retry it).
 *
 * Redirects are not followed (a redirect to another origin would bypass the SSRF guard and could leak
 * credentials). Auth headers go only to the base URL's origin unless a request says `auth: true`.
 */
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, type Dispatcher, request } from 'undici';
import { type AuthProvider, noAuth } from './auth.ts';
import { decodeBody, flattenHeaders, readAll, readExcerpt } from './body.ts';
import { FhirHttpError } from './errors.ts';
import { parseOperationOutcome } from './operation-outcome.ts';
import { redactUrl } from './redact.ts';
import {
  backoffDelayMs,
  defaultRetryPolicy,
  defaultRetryStatuses,
  errorCode,
  isTransientNetworkCode,
  parseRetryAfterMs,
  type RetryPolicy,
  shouldRetryNetworkError,
  shouldRetryStatus,
} from './retry.ts';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/** The subset of a pino logger the client uses; records carry redacted URLs only. */
export interface FhirClientLogger {
  warn(record: object, message: string): void;
  debug(record: object, message: string): void;
}

export interface FhirClientOptions {
  /** FHIR base URL, e.g. `https://fhir.example.org/fhir` (a trailing slash is ignored). */
  baseUrl: string;
  auth?: AuthProvider;
  /** Per-attempt timeout of buffered requests; headers timeout of streams. Default 60,000 ms. */
  timeoutMs?: number;
  /** Longest gap between two body chunks of a stream. Default: `timeoutMs`. */
  idleTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  userAgent?: string;
  logger?: FhirClientLogger;
  /** An undici dispatcher to share; by default the client owns a keep-alive Agent (closed by `close()`). */
  dispatcher?: Dispatcher;
  /** Injectable for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

export interface FhirRequest {
  method?: HttpMethod;
  /** A path relative to the base URL (`Patient/1`, `$export?_type=Patient`) or an absolute URL. */
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /**
   * Whether sending the request twice is harmless. Default: true for GET, HEAD, PUT and DELETE, false for
   * POST and PATCH. A POST of a `batch` Bundle of PUTs is idempotent and may say so.
   */
  idempotent?: boolean;
  /** Statuses that may be retried (default 429, 500, 502, 503, 504; non-idempotent requests: 429 only). */
  retryStatuses?: readonly number[];
  /** Overrides the client's maxAttempts for this request (1 = no retries). */
  maxAttempts?: number;
  /** Default true: an error status (≥ 400) left after retries throws. False: it is returned. */
  throwOnError?: boolean;
  /** Whether to add the auth provider's headers. Default: only when the URL is on the base URL's origin. */
  auth?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface FhirStreamRequest extends FhirRequest {
  idleTimeoutMs?: number;
}

export interface FhirResponse<B> {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: B;
  attempts: number;
  /** The absolute URL requested (not redacted: it is data; pass it through `redactUrl` before logging). */
  url: string;
}

export interface FhirClient {
  /** The base URL without a trailing slash. */
  readonly baseUrl: string;
  readonly origin: string;
  /** The absolute URL for a path relative to the base URL (absolute URLs are returned as they are). */
  resolve(pathOrUrl: string): string;
  text(req: FhirRequest): Promise<FhirResponse<string>>;
  /** The body parsed as JSON (`undefined` when empty); invalid JSON throws a `protocol` FhirHttpError. */
  json(req: FhirRequest): Promise<FhirResponse<unknown>>;
  /** The body as a Readable that the caller must consume or destroy. */
  stream(req: FhirStreamRequest): Promise<FhirResponse<Readable>>;
  close(): Promise<void>;
}

const idempotentMethods = new Set<HttpMethod>(['GET', 'HEAD', 'PUT', 'DELETE']);

export function createFhirClient(options: FhirClientOptions): FhirClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const origin = new URL(baseUrl).origin;
  const auth = options.auth ?? noAuth();
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...options.retry };
  const timeoutMs = options.timeoutMs ?? 60_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? timeoutMs;
  const userAgent = options.userAgent ?? 'fhir-migrate';
  const dispatcher: Dispatcher = options.dispatcher ?? new Agent({ keepAliveTimeout: 30_000 });
  const ownAgent = options.dispatcher ? undefined : dispatcher;
  const sleep = options.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }));
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const log = options.logger;

  const resolve = (pathOrUrl: string): string =>
    /^[a-z][a-z0-9+.-]*:\/\//i.test(pathOrUrl) ? pathOrUrl : `${baseUrl}/${pathOrUrl.replace(/^\/+/, '')}`;

  /**
   * Sends `req` until it succeeds, fails permanently or runs out of attempts. `consume` turns a final
   * response body into the result; for buffered modes it runs inside the attempt, so a connection reset in
   * the middle of the body is retried like any other transport error.
   */
  async function execute<B>(
    req: FhirStreamRequest,
    mode: 'buffered' | 'stream',
    consume: (body: Dispatcher.ResponseData['body'], headers: Record<string, string>) => Promise<B>,
  ): Promise<FhirResponse<B>> {
    const method = req.method ?? 'GET';
    const url = resolve(req.url);
    const useAuth = req.auth ?? new URL(url).origin === origin;
    const idempotent = req.idempotent ?? idempotentMethods.has(method);
    const maxAttempts = Math.max(1, req.maxAttempts ?? policy.maxAttempts);
    const retryStatuses = req.retryStatuses ?? defaultRetryStatuses;
    const attemptTimeout = req.timeoutMs ?? timeoutMs;
    let attempts = 0;
    let authRefreshed = false;

    for (;;) {
      attempts++;
      const headers: Record<string, string> = {
        'user-agent': userAgent,
        ...lowerKeys(useAuth ? await auth.headers() : {}),
        ...lowerKeys(req.headers ?? {}),
      };
      const timer = new AbortController();
      const timeout =
        mode === 'buffered' ? setTimeout(() => timer.abort(), attemptTimeout).unref() : undefined;
      const signal = req.signal ? AbortSignal.any([req.signal, timer.signal]) : timer.signal;
      let waitMs: number;
      try {
        const res = await request(url, {
          method,
          headers,
          body: req.body ?? null,
          dispatcher,
          signal,
          headersTimeout: attemptTimeout,
          bodyTimeout: mode === 'stream' ? (req.idleTimeoutMs ?? idleTimeoutMs) : attemptTimeout,
        });
        const status = res.statusCode;
        const resHeaders = flattenHeaders(res.headers);

        if (status === 401 && useAuth && auth.onUnauthorized && !authRefreshed) {
          authRefreshed = true;
          const error = await httpError(method, url, 401, resHeaders, res.body, attempts, false);
          log?.debug({ method, url: redactUrl(url) }, 'FHIR request got 401, refreshing credentials');
          if (!(await auth.onUnauthorized())) throw error;
          attempts--; // the retry after a credential refresh does not use up an attempt
          continue;
        }

        if (shouldRetryStatus(status, idempotent, retryStatuses) && attempts < maxAttempts) {
          await res.body.dump();
          waitMs = parseRetryAfter(resHeaders) ?? backoffDelayMs(attempts, policy, random);
          log?.warn(
            { method, url: redactUrl(url), status, attempt: attempts, delayMs: waitMs },
            'FHIR request failed, retrying',
          );
        } else if (status >= 400 && req.throwOnError !== false) {
          const retryable = defaultRetryStatuses.includes(status);
          throw await httpError(method, url, status, resHeaders, res.body, attempts, retryable);
        } else {
          const body = await consume(res.body, resHeaders);
          return { status, headers: resHeaders, body, attempts, url };
        }
      } catch (error) {
        if (error instanceof FhirHttpError) throw error;
        if (req.signal?.aborted) {
          throw new FhirHttpError({ kind: 'aborted', method, url, attempts, retryable: false, cause: error });
        }
        const code = timer.signal.aborted ? 'TIMEOUT' : errorCode(error);
        const kind =
          code === 'TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT'
            ? 'timeout'
            : 'network';
        if (!shouldRetryNetworkError(code, idempotent) || attempts >= maxAttempts) {
          const retryable = isTransientNetworkCode(code);
          throw new FhirHttpError({ kind, method, url, code, attempts, retryable, cause: error });
        }
        waitMs = backoffDelayMs(attempts, policy, random);
        log?.warn(
          { method, url: redactUrl(url), code, attempt: attempts, delayMs: waitMs },
          'FHIR request failed, retrying',
        );
      } finally {
        clearTimeout(timeout);
      }
      try {
        await sleep(waitMs, req.signal);
      } catch (error) {
        throw new FhirHttpError({ kind: 'aborted', method, url, attempts, retryable: false, cause: error });
      }
    }
  }

  function parseRetryAfter(headers: Record<string, string>): number | undefined {
    return parseRetryAfterMs(headers, now(), policy.maxDelayMs);
  }

  const text = (req: FhirRequest) =>
    execute(req, 'buffered', async (body, headers) =>
      decodeBody(await readAll(body), headers['content-type']),
    );

  return {
    baseUrl,
    origin,
    resolve,
    text,
    async json(req) {
      const res = await text(req);
      if (res.body.trim() === '') return { ...res, body: undefined };
      try {
        return { ...res, body: JSON.parse(res.body) as unknown };
      } catch (error) {
        throw new FhirHttpError({
          kind: 'protocol',
          method: req.method ?? 'GET',
          url: res.url,
          status: res.status,
          attempts: res.attempts,
          retryable: false,
          detail: 'the reply is not valid JSON',
          cause: error,
        });
      }
    },
    stream: (req) => execute(req, 'stream', async (body) => body),
    async close() {
      await ownAgent?.close();
    },
  };
}

async function httpError(
  method: string,
  url: string,
  status: number,
  headers: Record<string, string>,
  body: Readable,
  attempts: number,
  retryable: boolean,
): Promise<FhirHttpError> {
  const text = decodeBody(await readExcerpt(body), headers['content-type']);
  const outcome = parseOperationOutcome(text);
  return new FhirHttpError({
    kind: 'http',
    method,
    url,
    status,
    attempts,
    retryable,
    ...(outcome ? { outcome } : { body: text }),
  });
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}
