/**
 * OAuth2 client credentials (RFC 6749 §4.4) auth provider. The token is cached until shortly before it
 * expires; concurrent requests share one token request; a 401 from the FHIR server invalidates the token and
 * fetches a new one (the client then retries its request once).
 *
 * The token endpoint is called through its own FHIR client (no auth, a few retries: a token request can be
 * repeated safely), so failures surface as redacted FhirHttpErrors naming the token URL, never the secret.
 */
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import type { AuthProvider } from './auth.ts';
import { type BearerToken, cachedBearerAuth } from './auth-token-cache.ts';
import { createFhirClient, type FhirClientLogger } from './client.ts';
import { FhirHttpError } from './errors.ts';

export interface ClientCredentialsOptions {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
  /** How the client authenticates to the token endpoint. Default `client_secret_post` (form fields). */
  clientAuthMethod?: 'client_secret_post' | 'client_secret_basic';
  /** Renew this long before expiry (capped at half the token's lifetime). Default 60,000 ms. */
  refreshSkewMs?: number;
  /** Lifetime assumed when the token reply has no `expires_in`. Default 300,000 ms. */
  defaultLifetimeMs?: number;
  /** A 401 within this long after a token was obtained reuses it instead of fetching again. Default 2,000 ms. */
  minRefreshIntervalMs?: number;
  timeoutMs?: number;
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  dispatcher?: Dispatcher;
  logger?: FhirClientLogger;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const tokenReplySchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
});

export interface ClientCredentialsAuth extends AuthProvider {
  /** Forgets the cached token; the next request fetches a new one. */
  invalidate(): void;
  /** How many tokens were fetched so far (for tests and metrics). */
  readonly tokensFetched: number;
}

export function clientCredentialsAuth(options: ClientCredentialsOptions): ClientCredentialsAuth {
  const now = options.now ?? Date.now;
  const refreshSkewMs = options.refreshSkewMs ?? 60_000;
  const defaultLifetimeMs = options.defaultLifetimeMs ?? 300_000;
  const minRefreshIntervalMs = options.minRefreshIntervalMs ?? 2_000;
  const tokenClient = createFhirClient({
    baseUrl: options.tokenUrl,
    retry: { maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 10_000, ...options.retry },
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    now,
  });
  let tokensFetched = 0;

  async function fetchToken(): Promise<BearerToken> {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (options.clientAuthMethod === 'client_secret_basic') {
      const user = encodeURIComponent(options.clientId);
      const secret = encodeURIComponent(options.clientSecret);
      headers.authorization = `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
    } else {
      form.set('client_id', options.clientId);
      form.set('client_secret', options.clientSecret);
    }
    if (options.scope) form.set('scope', options.scope);
    const startedAt = now();
    const res = await tokenClient.json({
      method: 'POST',
      url: options.tokenUrl,
      headers,
      body: form.toString(),
      idempotent: true,
      auth: false,
    });
    const reply = tokenReplySchema.safeParse(res.body);
    if (!reply.success || (reply.data.token_type && reply.data.token_type.toLowerCase() !== 'bearer')) {
      throw new FhirHttpError({
        kind: 'protocol',
        method: 'POST',
        url: options.tokenUrl,
        status: res.status,
        attempts: res.attempts,
        retryable: false,
        detail: 'the token endpoint did not return a bearer access_token',
      });
    }
    tokensFetched++;
    const lifetimeMs = reply.data.expires_in !== undefined ? reply.data.expires_in * 1000 : defaultLifetimeMs;
    const skew = Math.min(refreshSkewMs, lifetimeMs / 2);
    return {
      value: reply.data.access_token,
      obtainedAt: startedAt,
      refreshAt: startedAt + lifetimeMs - skew,
    };
  }

  const cache = cachedBearerAuth(fetchToken, { now, minRefreshIntervalMs });
  return {
    headers: () => cache.headers(),
    onUnauthorized: () => cache.onUnauthorized(),
    invalidate: () => cache.invalidate(),
    get tokensFetched() {
      return tokensFetched;
    },
  };
}
