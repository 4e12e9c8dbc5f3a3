import { afterEach, describe, expect, it } from 'vitest';
import { clientCredentialsAuth } from './auth-oauth2.ts';
import { createFhirClient } from './client.ts';
import { FhirHttpError } from './errors.ts';
import {
  type LoopbackHandler,
  type LoopbackServer,
  startLoopbackServer,
} from './test-support/loopback-server.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Fake {
  server: LoopbackServer;
  tokenRequests: () => URLSearchParams[];
  fhirRequests: () => (string | undefined)[];
}

/**
 * One loopback server playing both the token endpoint (/token, issues t1, t2, …) and a protected API
 * (/fhir/…, accepts the tokens in `valid`).
 */
async function fake(options: {
  valid: (token: string) => boolean;
  expiresIn?: number;
  tokenStatus?: number;
}): Promise<Fake> {
  let issued = 0;
  const handler: LoopbackHandler = (req, res) => {
    if (req.url === '/token') {
      if (options.tokenStatus) {
        res.writeHead(options.tokenStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_client', error_description: 'bad secret' }));
        return;
      }
      issued++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          access_token: `t${issued}`,
          token_type: 'Bearer',
          expires_in: options.expiresIn ?? 3600,
        }),
      );
      return;
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (token && options.valid(token)) res.writeHead(200).end(`hello ${token}`);
    else res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end();
  };
  const server = await startLoopbackServer(handler);
  cleanups.push(() => server.close());
  return {
    server,
    tokenRequests: () =>
      server.requests.filter((r) => r.url === '/token').map((r) => new URLSearchParams(r.body)),
    fhirRequests: () => server.requests.filter((r) => r.url !== '/token').map((r) => r.headers.authorization),
  };
}

function setup(f: Fake, extra: Partial<Parameters<typeof clientCredentialsAuth>[0]> = {}) {
  const auth = clientCredentialsAuth({
    tokenUrl: `${f.server.url}/token`,
    clientId: 'migrator',
    clientSecret: 'very-secret-value',
    scope: 'system/*.read',
    minRefreshIntervalMs: 0,
    sleep: async () => {},
    ...extra,
  });
  const client = createFhirClient({ baseUrl: `${f.server.url}/fhir`, auth, sleep: async () => {} });
  cleanups.push(() => client.close());
  return { auth, client };
}

describe('OAuth2 client credentials against a loopback fake token endpoint and API (not a FHIR server)', () => {
  it('posts the client credentials form and caches the token across requests', async () => {
    const f = await fake({ valid: () => true });
    const { client, auth } = setup(f);
    await client.text({ url: 'Patient' });
    await client.text({ url: 'Observation' });
    expect(auth.tokensFetched).toBe(1);
    expect(Object.fromEntries(f.tokenRequests()[0] ?? [])).toEqual({
      grant_type: 'client_credentials',
      client_id: 'migrator',
      client_secret: 'very-secret-value',
      scope: 'system/*.read',
    });
    expect(f.fhirRequests()).toEqual(['Bearer t1', 'Bearer t1']);
  });

  it('shares one token request between concurrent requests', async () => {
    const f = await fake({ valid: () => true });
    const { client } = setup(f);
    await Promise.all(Array.from({ length: 5 }, (_, i) => client.text({ url: `Patient/${i}` })));
    expect(f.tokenRequests()).toHaveLength(1);
  });

  it('renews the token shortly before expires_in', async () => {
    let now = 1_000_000;
    const f = await fake({ valid: () => true, expiresIn: 120 });
    const { client } = setup(f, { now: () => now, refreshSkewMs: 30_000 });
    await client.text({ url: 'a' });
    now += 89_000; // 120 s − 30 s skew = 90 s: still fresh
    await client.text({ url: 'b' });
    now += 2_000;
    await client.text({ url: 'c' });
    expect(f.fhirRequests()).toEqual(['Bearer t1', 'Bearer t1', 'Bearer t2']);
  });

  it('on a 401 fetches a new token once and retries the request', async () => {
    const f = await fake({ valid: (t) => t !== 't1' }); // t1 was revoked server-side
    const { client } = setup(f);
    const res = await client.text({ url: 'Patient' });
    expect(res.body).toBe('hello t2');
    expect(f.fhirRequests()).toEqual(['Bearer t1', 'Bearer t2']);
  });

  it('refreshes only once per request when the API keeps answering 401', async () => {
    const f = await fake({ valid: () => false });
    const { client } = setup(f);
    await expect(client.text({ url: 'Patient' })).rejects.toMatchObject({ status: 401 });
    expect(f.tokenRequests()).toHaveLength(2);
    expect(f.fhirRequests()).toEqual(['Bearer t1', 'Bearer t2']);
  });

  it('retries a POST after a 401 refresh (the server did not act on it)', async () => {
    const f = await fake({ valid: (t) => t !== 't1' });
    const { client } = setup(f);
    expect((await client.text({ method: 'POST', url: '', body: '{}' })).status).toBe(200);
  });

  it('can authenticate to the token endpoint with HTTP Basic', async () => {
    const f = await fake({ valid: () => true });
    const { client } = setup(f, { clientAuthMethod: 'client_secret_basic' });
    await client.text({ url: 'Patient' });
    const tokenRequest = f.server.requests.find((r) => r.url === '/token');
    expect(tokenRequest?.headers.authorization).toBe(
      `Basic ${Buffer.from('migrator:very-secret-value').toString('base64')}`,
    );
    expect(new URLSearchParams(tokenRequest?.body).has('client_secret')).toBe(false);
  });

  it('reports a refused token request without the client secret', async () => {
    const f = await fake({ valid: () => true, tokenStatus: 401 });
    const { client } = setup(f);
    const error = await client.text({ url: 'Patient' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FhirHttpError);
    for (const text of [
      String(error),
      JSON.stringify(error),
      error instanceof Error ? (error.stack ?? '') : '',
    ]) {
      expect(text).not.toContain('very-secret-value');
    }
    expect(String(error)).toContain('/token failed with HTTP 401');
    expect(String(error)).toContain('invalid_client');
    expect(f.fhirRequests()).toHaveLength(0);
  });
});
