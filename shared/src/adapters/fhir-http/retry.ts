/**
 * Retry policy of the FHIR client: which failures are retried, how long to wait (exponential backoff with
 * jitter, or the server's own Retry-After / x-ms-retry-after-ms hint), all clamped to `maxDelayMs`.
 *
 * Idempotency decides what may be retried:
 * - idempotent requests (GET, HEAD, PUT, DELETE by default, or any request sent with `idempotent: true`,
 *   e.g. a batch Bundle of PUTs) are retried on 429, 500, 502, 503, 504, network errors and timeouts;
 * - non-idempotent requests (POST, PATCH by default) are retried only where the server provably did not act:
 *   429 (the request was refused, not processed), 401 after an auth refresh, and connection errors raised
 *   before any byte of the request could have reached the server (refused, DNS, connect timeout).
 *   A POST that failed with 500/503 or a reset connection is NOT retried: it may have been applied.
 */

export interface RetryPolicy {
  /** Total tries including the first one. Default 6. */
  maxAttempts: number;
  /** First backoff step. Default 1,000 ms; doubles each attempt. */
  baseDelayMs: number;
  /** Upper bound of any wait, including server hints. Default 60,000 ms. */
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 6, baseDelayMs: 1_000, maxDelayMs: 60_000 };

export const defaultRetryStatuses: readonly number[] = [429, 500, 502, 503, 504];

/** Transport error codes that mean the request never reached the server. */
const preSendCodes = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Transport error codes that are transient for idempotent requests. */
const transientCodes = new Set([
  ...preSendCodes,
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'TIMEOUT',
]);

/** The transport error code of an error or of its cause chain (`ECONNRESET`, `UND_ERR_SOCKET`, …). */
export function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    if ('code' in current && typeof current.code === 'string') return current.code;
    current = 'cause' in current ? current.cause : undefined;
  }
  return undefined;
}

/** undici codes that are programming or caller errors, never transient. */
const permanentUndiciCodes = new Set([
  'UND_ERR_ABORTED',
  'UND_ERR_INVALID_ARG',
  'UND_ERR_INVALID_RETURN_VALUE',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_DESTROYED',
  'UND_ERR_RES_EXCEEDED_MAX_SIZE',
]);

export function isTransientNetworkCode(code: string | undefined): boolean {
  if (code === undefined) return false;
  return transientCodes.has(code) || (code.startsWith('UND_ERR_') && !permanentUndiciCodes.has(code));
}

export function isPreSendNetworkCode(code: string | undefined): boolean {
  return code !== undefined && preSendCodes.has(code);
}

/**
 * Whether a transport failure with `code` may be retried. Idempotent requests retry every transient code;
 * non-idempotent ones only those raised before the request was sent.
 */
export function shouldRetryNetworkError(code: string | undefined, idempotent: boolean): boolean {
  return idempotent ? isTransientNetworkCode(code) : isPreSendNetworkCode(code);
}

/** Whether an HTTP status may be retried (429 always; the other retry statuses only when idempotent). */
export function shouldRetryStatus(
  status: number,
  idempotent: boolean,
  retryStatuses: readonly number[] = defaultRetryStatuses,
): boolean {
  if (!retryStatuses.includes(status)) return false;
  return idempotent || status === 429;
}

type HeaderValue = string | string[] | undefined;

function headerValue(headers: Record<string, HeaderValue>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/**
 * The server's requested wait in ms, or undefined when it gave none or only garbage. `x-ms-retry-after-ms`
 * (Azure, milliseconds) wins over `Retry-After` (delta-seconds or an HTTP-date; a date in the past means 0).
 * Negative, non-numeric or unparsable values are ignored; huge values are clamped to `maxDelayMs`.
 */
export function parseRetryAfterMs(
  headers: Record<string, HeaderValue>,
  nowMs: number,
  maxDelayMs: number,
): number | undefined {
  const msHint = headerValue(headers, 'x-ms-retry-after-ms')?.trim();
  if (msHint && /^\d+(\.\d+)?$/.test(msHint)) return clamp(Number(msHint), maxDelayMs);
  const hint = headerValue(headers, 'retry-after')?.trim();
  if (!hint) return undefined;
  if (/^\d+(\.\d+)?$/.test(hint)) return clamp(Number(hint) * 1000, maxDelayMs);
  // An HTTP-date must name a weekday or month; this keeps numbers like "-5" or "1e3" out of Date.parse.
  if (!/[a-z]{3}/i.test(hint)) return undefined;
  const at = Date.parse(hint);
  if (Number.isNaN(at)) return undefined;
  return clamp(at - nowMs, maxDelayMs);
}

/**
 * Exponential backoff with "equal jitter" before try number `attempt + 1` (`attempt` = tries so far, ≥ 1):
 * half of the capped step is fixed, the other half random, so waits never collapse to 0.
 */
export function backoffDelayMs(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

function clamp(ms: number, maxDelayMs: number): number {
  if (!Number.isFinite(ms)) return maxDelayMs;
  return Math.min(Math.max(0, Math.round(ms)), maxDelayMs);
}
