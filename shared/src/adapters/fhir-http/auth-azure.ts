/**
 * Microsoft Entra ID auth for a FHIR server (Azure API for FHIR, Azure Health Data Services): a bearer token
 * of an `@azure/identity` credential for the server's scope. The token is kept until five minutes before it
 * expires; a 401 drops it and asks the credential once more.
 */
import type { AccessToken, TokenCredential } from '@azure/identity';
import type { AuthProvider } from './auth.ts';
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
  let cached: AccessToken | undefined;
  let pending: Promise<AccessToken> | undefined;

  async function fetchToken(): Promise<AccessToken> {
    pending ??= (async () => {
      try {
        const token = await credential.getToken(scope);
        if (!token) throw new Error('the credential returned no token');
        cached = token;
        return token;
      } catch (err) {
        throw new EntraTokenError(scope, err);
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  }

  return {
    async headers() {
      const token = cached && cached.expiresOnTimestamp - renewBeforeMs > now() ? cached : await fetchToken();
      return { authorization: `Bearer ${token.token}` };
    },
    async onUnauthorized() {
      const before = cached?.token;
      cached = undefined;
      const token = await fetchToken();
      return token.token !== before;
    },
  };
}
