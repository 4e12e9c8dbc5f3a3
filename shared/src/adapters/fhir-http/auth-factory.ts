/**
 * An auth provider from its configuration (the shape of the config schema's `auth`). Entra ID and SMART
 * Backend Services will be further cases.
 */
import type { Dispatcher } from 'undici';
import { type AuthProvider, basicAuth, bearerAuth, noAuth } from './auth.ts';
import { clientCredentialsAuth } from './auth-oauth2.ts';
import type { FhirClientLogger } from './client.ts';

export type AuthSpec =
  | { type: 'none' }
  | { type: 'bearer'; token: string }
  | { type: 'basic'; username: string; password: string }
  | { type: 'client-credentials'; tokenUrl: string; clientId: string; clientSecret: string; scope?: string };

export function createAuthProvider(
  spec: AuthSpec,
  deps: { dispatcher?: Dispatcher; logger?: FhirClientLogger } = {},
): AuthProvider {
  switch (spec.type) {
    case 'none':
      return noAuth();
    case 'bearer':
      return bearerAuth(spec.token);
    case 'basic':
      return basicAuth(spec.username, spec.password);
    case 'client-credentials':
      return clientCredentialsAuth({
        tokenUrl: spec.tokenUrl,
        clientId: spec.clientId,
        clientSecret: spec.clientSecret,
        ...(spec.scope ? { scope: spec.scope } : {}),
        ...deps,
      });
    default:
      throw new Error(`unknown auth type: ${String(spec satisfies never)}`);
  }
}
