/**
 * Microsoft Entra ID auth for a FHIR server (Azure API for FHIR, Azure Health Data Services): a bearer token
 * of an `@azure/identity` credential for the server's scope. The token is kept until five minutes before it
 * expires; a 401 drops it and asks the credential once more.
 */
import type { AccessToken, TokenCredential } from '@azure/identity';
import type { AuthProvider } from './auth.ts';
import { cachedBearerAuth } from './auth-token-cache.ts';
import { redactText } from './redact.ts';

const renewBeforeMs = 5 * 60_000;

/** A credential failure: names the scope, never a secret (the message is redacted). */
export class EntraTokenError extends Error {
  readonly code = 'ENTRA_TOKEN_FAILED';
  constructor(scope: string, cause: unknown) {
    super(
      `could not get a Microsoft Entra ID token for ${scope}: ${redactText(cause instanceof Error ? cause.message : String(cause)).slice(0, 500)}`,
    );
    this.name = 'EntraTokenError';
  }
}

export function entraIdAuth(
  credential: TokenCredential,
  scope: string,
  now: () => number = Date.now,
): AuthProvider {
  const cache = cachedBearerAuth(
    async () => {
      const obtainedAt = now();
      let token: AccessToken | null;
      try {
        token = await credential.getToken(scope);
      } catch (err) {
        throw new EntraTokenError(scope, err);
      }
      if (!token) throw new EntraTokenError(scope, new Error('the credential returned no token'));
      return { value: token.token, obtainedAt, refreshAt: token.expiresOnTimestamp - renewBeforeMs };
    },
    // @azure/identity caches tokens itself: a 401 always asks it again.
    { now, minRefreshIntervalMs: 0 },
  );
  return {
    headers: () => cache.headers(),
    async onUnauthorized() {
      const before = cache.current;
      await cache.onUnauthorized();
      // The credential may hand back the token that was just refused: then the 401 is final.
      return cache.current !== before;
    },
  };
}
