import { describe, expect, it } from 'vitest';
import {
  backoffDelayMs,
  defaultRetryPolicy,
  errorCode,
  parseRetryAfterMs,
  shouldRetryNetworkError,
  shouldRetryStatus,
} from './retry.ts';

const now = Date.parse('2026-11-26T12:00:00Z');
const max = 60_000;

describe('parseRetryAfterMs', () => {
  it.each([
    [{ 'retry-after': '3' }, 3_000],
    [{ 'Retry-After': ' 0 ' }, 0],
    [{ 'retry-after': '1.5' }, 1_500],
    [{ 'retry-after': 'Thu, 26 Nov 2026 12:00:07 GMT' }, 7_000],
    [{ 'retry-after': 'Thu, 26 Nov 2026 11:59:00 GMT' }, 0], // a date in the past: go now
    [{ 'x-ms-retry-after-ms': '250' }, 250],
    [{ 'x-ms-retry-after-ms': '250', 'retry-after': '9' }, 250], // the precise Azure hint wins
    [{ 'x-ms-retry-after-ms': 'soon', 'retry-after': '2' }, 2_000], // garbage ms hint falls back
  ])('%j → %i ms', (headers, expected) => {
    expect(parseRetryAfterMs(headers, now, max)).toBe(expected);
  });

  it.each([
    [{ 'retry-after': '1000000000' }],
    [{ 'retry-after': 'Fri, 01 Jan 2100 00:00:00 GMT' }],
    [{ 'x-ms-retry-after-ms': '99999999999999999999' }],
  ])('clamps absurd hints %j to maxDelayMs', (headers) => {
    expect(parseRetryAfterMs(headers, now, max)).toBe(max);
  });

  it.each([
    [{}],
    [{ 'retry-after': '-5' }],
    [{ 'retry-after': 'soon' }],
    [{ 'retry-after': '1e3' }],
    [{ 'retry-after': '' }],
    [{ 'retry-after': 'Thu, 99 Foo 2026 99:99:99 GMT' }],
    [{ 'x-ms-retry-after-ms': '-10' }],
  ])('ignores missing, negative or garbage hints %j', (headers) => {
    expect(parseRetryAfterMs(headers, now, max)).toBeUndefined();
  });

  it('reads the first value of a repeated header', () => {
    expect(parseRetryAfterMs({ 'retry-after': ['4', '8'] }, now, max)).toBe(4_000);
  });
});

describe('backoffDelayMs', () => {
  const policy = { ...defaultRetryPolicy, baseDelayMs: 100, maxDelayMs: 1_000 };

  it('doubles per attempt with jitter in the upper half of the step', () => {
    expect(backoffDelayMs(1, policy, () => 0)).toBe(50);
    expect(backoffDelayMs(1, policy, () => 1)).toBe(100);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(200);
    expect(backoffDelayMs(3, policy, () => 1)).toBe(400);
  });

  it('never exceeds maxDelayMs', () => {
    expect(backoffDelayMs(30, policy, () => 1)).toBe(1_000);
    expect(backoffDelayMs(30, policy, () => 0)).toBe(500);
  });
});

describe('what is retried', () => {
  it('retries 429 always, other transient statuses only for idempotent requests', () => {
    expect(shouldRetryStatus(429, false)).toBe(true);
    expect(shouldRetryStatus(503, false)).toBe(false);
    expect(shouldRetryStatus(500, false)).toBe(false);
    for (const status of [429, 500, 502, 503, 504]) expect(shouldRetryStatus(status, true)).toBe(true);
    for (const status of [400, 401, 404, 409, 412, 422, 501])
      expect(shouldRetryStatus(status, true)).toBe(false);
    expect(shouldRetryStatus(500, true, [429, 503])).toBe(false);
  });

  it('retries connection errors for non-idempotent requests only before anything was sent', () => {
    expect(shouldRetryNetworkError('ECONNREFUSED', false)).toBe(true);
    expect(shouldRetryNetworkError('UND_ERR_CONNECT_TIMEOUT', false)).toBe(true);
    expect(shouldRetryNetworkError('ECONNRESET', false)).toBe(false);
    expect(shouldRetryNetworkError('UND_ERR_SOCKET', false)).toBe(false);
    expect(shouldRetryNetworkError('ECONNRESET', true)).toBe(true);
    expect(shouldRetryNetworkError('UND_ERR_HEADERS_TIMEOUT', true)).toBe(true);
    expect(shouldRetryNetworkError('UND_ERR_ABORTED', true)).toBe(false);
    expect(shouldRetryNetworkError(undefined, true)).toBe(false);
  });

  it('finds the error code in a cause chain', () => {
    const inner = Object.assign(new Error('connect'), { code: 'ECONNREFUSED' });
    expect(errorCode(new Error('fetch failed', { cause: inner }))).toBe('ECONNREFUSED');
    expect(errorCode(new Error('plain'))).toBeUndefined();
  });
});
