/**
 * An auth provider from its configuration (the shape of the config schema's `auth`). SMART Backend Services
 * will be a further case.
 */
import type { TokenCredential } from '@azure/identity';
import type { Dispatcher } from 'undici';
import { defaultScope } from '../azure/identity.ts';
import { type AuthProvider, basicAuth, bearerAuth, noAuth } from './auth.ts';
import { entraIdAuth } from './auth-azure.ts';
import { clientCredentialsAuth } from './auth-oauth2.ts';
import type { FhirClientLogger } from './client.ts';

export type AuthSpec =
  | { type: 'none' }
  | { type: 'bearer'; token: string }
  | { type: 'basic'; username: string; password: string }
  | { type: 'client-credentials'; tokenUrl: string; clientId: string; clientSecret: string; scope?: string }
  | { type: 'azure'; scope?: string };

export interface AuthDeps {
  dispatcher?: Dispatcher;
  logger?: FhirClientLogger;
  /** auth `azure`: the process's Entra ID credential, and the server URL whose `/.default` scope it asks for. */
  azure?: { credential: () => TokenCredential; serverUrl: string };
}

export function createAuthProvider(spec: AuthSpec, deps: AuthDeps = {}): AuthProvider {
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
        ...(deps.dispatcher ? { dispatcher: deps.dispatcher } : {}),
        ...(deps.logger ? { logger: deps.logger } : {}),
      });
    case 'azure':
      if (!deps.azure) throw new Error('auth azure needs an Entra ID credential');
      return entraIdAuth(deps.azure.credential(), spec.scope ?? defaultScope(deps.azure.serverUrl));
    default:
      throw new Error(`unknown auth type: ${String(spec satisfies never)}`);
  }
}
