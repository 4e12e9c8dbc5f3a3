/**
 * Entra ID auth of the FHIR client with the real `@azure/identity` ManagedIdentityCredential, against a
 * loopback fake of the Container Apps identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER, the protocol
 * a Container App's managed identity speaks). No Entra ID can be reached here: the endpoint is a fixture.
 */
import { ManagedIdentityCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultScope, storageScope } from '../azure/identity.ts';
import { EntraTokenError, entraIdAuth } from './auth-azure.ts';
import { createAuthProvider } from './auth-factory.ts';
import { createFhirClient } from './client.ts';
import { createExportDialect } from './dialects/factory.ts';
import { type LoopbackServer, startLoopbackServer } from './test-support/loopback-server.ts';

let identity: LoopbackServer;
let issued = 0;
const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };

beforeAll(async () => {
  identity = await startLoopbackServer((req, res) => {
    const url = new URL(req.url ?? '', 'http://x');
    if (req.headers['x-identity-header'] !== 'identity-header-secret') return res.writeHead(401).end();
    issued += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        access_token: `token-${issued}-for-${url.searchParams.get('resource')}`,
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        resource: url.searchParams.get('resource'),
        token_type: 'Bearer',
      }),
    );
  });
  process.env.IDENTITY_ENDPOINT = `${identity.url}/msi/token`;
  process.env.IDENTITY_HEADER = 'identity-header-secret';
});
afterAll(async () => {
  await identity.close();
  for (const [key, value] of [
    ['IDENTITY_ENDPOINT', saved.endpoint],
    ['IDENTITY_HEADER', saved.header],
  ] as const)
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
});

describe('Entra ID auth with a managed identity (a loopback fake of the Container Apps identity endpoint)', () => {
  it('asks for the FHIR server’s own audience, sends the token, and reuses it until it nears expiry', async () => {
    let replies = 0;
    const fhir = await startLoopbackServer((_req, res) => {
      replies += 1;
      res.writeHead(200, { 'content-type': 'application/fhir+json' }).end('{"resourceType":"Bundle"}');
    });
    const before = identity.requests.length;
    const serverUrl = `${fhir.url}/fhir`;
    const client = createFhirClient({
      baseUrl: serverUrl,
      auth: createAuthProvider(
        { type: 'azure' },
        {
          azure: {
            credential: () => new ManagedIdentityCredential({ clientId: 'app-identity-1' }),
            serverUrl,
          },
        },
      ),
    });
    try {
      await client.json({ url: 'Patient?_count=1' });
      await client.json({ url: 'Patient?_count=2' });
      expect(replies).toBe(2);
      const tokenRequests = identity.requests.slice(before).map((r) => new URL(r.url, identity.url));
      expect(tokenRequests).toHaveLength(1);
      expect(tokenRequests[0]?.searchParams.get('resource')).toBe(serverUrl);
      expect(tokenRequests[0]?.searchParams.get('client_id')).toBe('app-identity-1');
      const auth = fhir.requests.map((r) => r.headers.authorization);
      expect(auth).toEqual([
        `Bearer token-${issued}-for-${serverUrl}`,
        `Bearer token-${issued}-for-${serverUrl}`,
      ]);
    } finally {
      await client.close();
      await fhir.close();
    }
  });

  it('drops the token on a 401 and retries once with a renewed one', async () => {
    const expiring = { token: 'stale', expiresOnTimestamp: Date.now() + 3_600_000 };
    let calls = 0;
    const credential = {
      getToken: async () => {
        calls += 1;
        return calls === 1 ? expiring : { token: 'renewed', expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    const fhir = await startLoopbackServer((req, res) =>
      req.headers.authorization === 'Bearer renewed'
        ? res.writeHead(200, { 'content-type': 'application/fhir+json' }).end('{"resourceType":"Bundle"}')
        : res.writeHead(401).end(),
    );
    const client = createFhirClient({
      baseUrl: fhir.url,
      auth: entraIdAuth(credential, defaultScope(fhir.url)),
    });
    try {
      await client.json({ url: 'Patient' });
      expect(fhir.requests.map((r) => r.headers.authorization)).toEqual(['Bearer stale', 'Bearer renewed']);
      expect(calls).toBe(2);
    } finally {
      await client.close();
      await fhir.close();
    }
  });

  it('renews a token five minutes before it expires', async () => {
    let now = 1_000_000;
    let calls = 0;
    const auth = entraIdAuth(
      {
        getToken: async () => {
          calls += 1;
          return { token: `t${calls}`, expiresOnTimestamp: now + 10 * 60_000 };
        },
      },
      'https://fhir.example/.default',
      () => now,
    );
    expect(await auth.headers()).toEqual({ authorization: 'Bearer t1' });
    now += 4 * 60_000;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer t1' });
    now += 2 * 60_000; // 4 minutes left: renewed
    expect(await auth.headers()).toEqual({ authorization: 'Bearer t2' });
  });

  it('reports a credential that cannot give a token with the scope, not the secret', async () => {
    const auth = entraIdAuth(
      {
        getToken: async () => {
          throw new Error('AADSTS7000215: Invalid client secret provided. client_secret=SuperSecretValue123');
        },
      },
      'https://fhir.example/.default',
    );
    const error = await auth.headers().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EntraTokenError);
    expect(String((error as Error).message)).toMatch(/Entra ID token for https:\/\/fhir\.example\/\.default/);
    expect(String((error as Error).message)).not.toContain('SuperSecretValue123');
  });
});

describe('Azure $export files on the export storage account (fixtures, not Azure)', () => {
  it('downloads with a Blob Storage token and x-ms-version, never the FHIR token, and refuses other hosts', async () => {
    const storage = await startLoopbackServer((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/fhir+ndjson' })
        .end('{"resourceType":"Patient","id":"p1"}\n'),
    );
    const fhir = await startLoopbackServer((_req, res) => res.writeHead(500).end());
    const scopes: string[] = [];
    const client = createFhirClient({
      baseUrl: `${fhir.url}/fhir`,
      auth: { headers: async () => ({ authorization: 'Bearer fhir-token' }) },
    });
    const dialect = createExportDialect('azure', client, {
      storageAuth: {
        origins: [storage.url],
        auth: entraIdAuth(
          {
            getToken: async (scope) => {
              scopes.push(String(scope));
              return { token: 'storage-token', expiresOnTimestamp: Date.now() + 3_600_000 };
            },
          },
          storageScope,
        ),
      },
    });
    try {
      const body = await dialect.openFile(`${storage.url}/export/Patient-1-1.ndjson`, {
        requiresAccessToken: false,
      });
      let text = '';
      for await (const chunk of body) text += String(chunk);
      expect(text).toBe('{"resourceType":"Patient","id":"p1"}\n');
      expect(storage.requests[0]?.headers.authorization).toBe('Bearer storage-token');
      expect(storage.requests[0]?.headers['x-ms-version']).toBe('2021-08-06');
      expect(scopes).toEqual(['https://storage.azure.com/.default']);
      await expect(dialect.openFile('http://169.254.169.254/metadata/x.ndjson')).rejects.toThrow(
        /not allowed|origin/i,
      );
    } finally {
      await client.close();
      await storage.close();
      await fhir.close();
    }
  });
});
