/**
 * The bearer-token cache behind the token-based auth providers (OAuth2 client credentials, Entra ID): the
 * token is kept until its `refreshAt`, concurrent requests share one fetch, and a 401 drops it so that the
 * next request fetches a new one (unless it was fetched moments ago, or a fetch is already under way).
 */
import type { AuthProvider } from './auth.ts';

export interface BearerToken {
  value: string;
  /** When the fetch that gave it started (epoch ms). */
  obtainedAt: number;
  /** When to fetch a new one instead (epoch ms). */
  refreshAt: number;
}

export interface CachedBearerAuth extends AuthProvider {
  onUnauthorized(): Promise<boolean>;
  /** Forgets the cached token; the next request fetches a new one. */
  invalidate(): void;
  /** The cached token's value, if any. */
  readonly current: string | undefined;
}

export function cachedBearerAuth(
  fetchToken: () => Promise<BearerToken>,
  options: { now: () => number; minRefreshIntervalMs: number },
): CachedBearerAuth {
  const { now, minRefreshIntervalMs } = options;
  let cached: BearerToken | undefined;
  let pending: Promise<BearerToken> | undefined;

  function token(): Promise<BearerToken> {
    if (cached && now() < cached.refreshAt) return Promise.resolve(cached);
    pending ??= fetchToken()
      .then((t) => {
        cached = t;
        return t;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  }

  return {
    async headers() {
      return { authorization: `Bearer ${(await token()).value}` };
    },
    async onUnauthorized() {
      if (pending) {
        await pending;
        return true;
      }
      if (cached && now() - cached.obtainedAt < minRefreshIntervalMs) return true;
      cached = undefined;
      await token();
      return true;
    },
    invalidate() {
      cached = undefined;
    },
    get current() {
      return cached?.value;
    },
  };
}
