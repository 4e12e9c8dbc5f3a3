/**
 * Auth providers of the FHIR client. A provider yields the headers to add to each request and may refresh its
 * credentials when the server answers 401. The interface is deliberately small so that Entra ID
 * (`@azure/identity` `getToken`) and SMART Backend Services (signed JWT assertion) providers fit later.
 * OAuth2 client credentials lives in `auth-oauth2.ts`.
 */

export interface AuthProvider {
  /** Headers to add to a request (e.g. `authorization`); called before every attempt. */
  headers(): Promise<Record<string, string>>;
  /**
   * Called once per request when the server answered 401. Return true if the credentials were renewed and
   * the request should be sent again (at most once), false to give up with the 401.
   */
  onUnauthorized?(): Promise<boolean>;
}

export function noAuth(): AuthProvider {
  return { headers: async () => ({}) };
}

/** A static bearer token (no refresh: a 401 is final). */
export function bearerAuth(token: string): AuthProvider {
  if (!token) throw new Error('bearerAuth: the token is empty');
  const headers = { authorization: `Bearer ${token}` };
  return { headers: async () => ({ ...headers }) };
}

/** HTTP Basic with a user name and password (RFC 7617, UTF-8). */
export function basicAuth(user: string, password: string): AuthProvider {
  if (user.includes(':')) throw new Error('basicAuth: the user name must not contain ":"');
  const headers = { authorization: `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}` };
  return { headers: async () => ({ ...headers }) };
}
