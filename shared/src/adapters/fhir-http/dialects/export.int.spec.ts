import { describe, expect, it } from 'vitest';
import { bearerAuth } from '../auth.ts';
import { readAll } from '../body.ts';
import { DisallowedOriginError } from '../errors.ts';
import { type LoopbackHandler, useLoopbackClients } from '../test-support/loopback-server.ts';
import { createExportDialect } from './factory.ts';

const useClients = useLoopbackClients();
const setup = (handler: LoopbackHandler) => useClients(handler, { auth: bearerAuth('src-token') });

const oo = (diagnostics: string) =>
  JSON.stringify({
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'processing', diagnostics }],
  });

describe('export dialects against a loopback fake Bulk Data server (protocol paths, not a FHIR server)', () => {
  it('hapi kick-off sends the async headers and returns the absolute status URL', async () => {
    const { server, client } = await setup((_req, res) =>
      res.writeHead(202, { 'content-location': '/fhir/$export-poll-status?_jobId=j1' }).end(),
    );
    const dialect = createExportDialect('hapi', client);
    const { statusUrl } = await dialect.kickOff({
      since: '2026-01-01T00:00:00Z',
      till: '2026-01-02T00:00:00Z',
      types: ['Patient'],
    });
    expect(statusUrl).toBe(`${server.url}/fhir/$export-poll-status?_jobId=j1`);
    const sent = server.requests[0];
    expect(sent?.method).toBe('GET');
    expect(sent?.headers).toMatchObject({
      prefer: 'respond-async',
      accept: 'application/fhir+json',
      'cache-control': 'no-cache',
      authorization: 'Bearer src-token',
    });
    expect(sent?.url).toContain('_until=2026-01-01T23%3A59%3A59.999Z');
  });

  it('a kick-off answered without Content-Location is a protocol error; one answered 500 is not resent', async () => {
    const { server, client } = await setup((_req, res, { n }) =>
      n === 1 ? res.writeHead(202).end() : res.writeHead(500).end(oo('cannot export')),
    );
    const dialect = createExportDialect('bulkdata', client);
    const window = { till: '2026-01-02T00:00:00Z', types: ['Patient'] };
    await expect(dialect.kickOff(window)).rejects.toMatchObject({ kind: 'protocol', status: 202 });
    await expect(dialect.kickOff(window)).rejects.toMatchObject({ status: 500, attempts: 1 });
    expect(server.requests).toHaveLength(2);
  });

  it('poll maps 202, 200, 404, 500 and gateway errors', async () => {
    const manifest = {
      transactionTime: '2026-11-26T13:18:34.301+00:00',
      requiresAccessToken: true,
      output: [{ type: 'Patient', url: 'http://elsewhere/Binary/1' }],
      error: [],
    };
    const { server, client } = await setup((req, res) => {
      if (req.url?.endsWith('running')) {
        res
          .writeHead(202, {
            'retry-after': '120',
            'x-progress': 'Build in progress - Status set to IN_PROGRESS',
          })
          .end();
      } else if (req.url?.endsWith('done')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(manifest));
      } else if (req.url?.endsWith('broken')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"output":[]}');
      } else if (req.url?.endsWith('failed')) {
        res.writeHead(500, { 'content-type': 'application/fhir+json' }).end(oo('HAPI-1234: export failed'));
      } else if (req.url?.endsWith('throttled')) {
        res.writeHead(429, { 'retry-after': '99999999' }).end();
      } else if (req.url?.endsWith('gateway')) {
        res.writeHead(503).end();
      } else {
        res.writeHead(404, { 'content-type': 'application/fhir+json' }).end(oo('unknown job'));
      }
    });
    const dialect = createExportDialect('hapi', client);
    const base = `${server.url}/fhir/$export-poll-status?_jobId=`;
    expect(await dialect.poll(`${base}running`)).toEqual({
      state: 'running',
      retryAfterMs: 120_000,
      progress: 'Build in progress - Status set to IN_PROGRESS',
    });
    expect(await dialect.poll(`${base}done`)).toEqual({
      state: 'completed',
      manifest: { ...manifest, deleted: [] },
    });
    expect(await dialect.poll(`${base}broken`)).toMatchObject({
      state: 'failed',
      reason: expect.stringMatching(/invalid manifest/),
    });
    expect(await dialect.poll(`${base}failed`)).toMatchObject({
      state: 'failed',
      reason: 'export job failed (HTTP 500): error processing: HAPI-1234: export failed',
    });
    expect(await dialect.poll(`${base}nope`)).toMatchObject({ state: 'failed', reason: 'job not found' });
    // A 429 is "still running" at once: the client does not sit out an absurd Retry-After on a poll.
    expect(await dialect.poll(`${base}throttled`)).toEqual({ state: 'running', retryAfterMs: 3_600_000 });
    expect(server.requests.filter((r) => r.url.endsWith('throttled'))).toHaveLength(1);
    await expect(dialect.poll(`${base}gateway`)).rejects.toMatchObject({ status: 503, retryable: true });
    // 500 is a job failure, not retried; 503 was retried once (maxAttempts 2).
    expect(server.requests.filter((r) => r.url.endsWith('failed'))).toHaveLength(1);
    expect(server.requests.filter((r) => r.url.endsWith('gateway'))).toHaveLength(2);
  });

  it('openFile streams NDJSON from the source origin with the token when requiresAccessToken', async () => {
    const { server, client } = await setup((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/fhir+ndjson' })
        .end('{"resourceType":"Patient","id":"a"}\n'),
    );
    const dialect = createExportDialect('hapi', client);
    const body = await dialect.openFile(`${server.url}/fhir/Binary/abc`);
    expect((await readAll(body)).toString()).toBe('{"resourceType":"Patient","id":"a"}\n');
    await readAll(await dialect.openFile(`${server.url}/fhir/Binary/abc`, { requiresAccessToken: false }));
    expect(server.requests.map((r) => [r.headers.accept, r.headers.authorization])).toEqual([
      ['application/fhir+ndjson', 'Bearer src-token'],
      ['application/fhir+ndjson', undefined],
    ]);
  });

  it('openFile refuses URLs off the allowed origins without sending anything', async () => {
    // A second loopback server stands in for a storage account (its client goes unused).
    const { server: storage } = await setup((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/fhir+ndjson' }).end('{}\n'),
    );
    const { client } = await setup((_req, res) => res.writeHead(200).end());
    const strict = createExportDialect('hapi', client);
    await expect(strict.openFile(`${storage.url}/c/f.ndjson?sig=abc`)).rejects.toBeInstanceOf(
      DisallowedOriginError,
    );
    await expect(strict.openFile('http://169.254.169.254/latest/meta-data/')).rejects.toBeInstanceOf(
      DisallowedOriginError,
    );
    expect(storage.requests).toHaveLength(0);

    const withStorage = createExportDialect('bulkdata', client, { allowedFileOrigins: [storage.url] });
    expect((await readAll(await withStorage.openFile(`${storage.url}/c/f.ndjson`))).toString()).toBe('{}\n');
  });

  it('openFile refuses a Binary resource served as FHIR JSON instead of raw NDJSON', async () => {
    const { server, client } = await setup((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/fhir+json;charset=UTF-8' })
        .end('{"resourceType":"Binary"}'),
    );
    const dialect = createExportDialect('hapi', client);
    await expect(dialect.openFile(`${server.url}/fhir/Binary/abc`)).rejects.toMatchObject({
      kind: 'protocol',
    });
  });

  it('cancel sends DELETE and treats an unknown job as cancelled', async () => {
    const { server, client } = await setup((_req, res, { n }) => res.writeHead(n === 1 ? 202 : 404).end());
    const dialect = createExportDialect('hapi', client);
    await dialect.cancel(`${server.url}/fhir/$export-poll-status?_jobId=j1`);
    await dialect.cancel(`${server.url}/fhir/$export-poll-status?_jobId=j1`);
    expect(server.requests.map((r) => r.method)).toEqual(['DELETE', 'DELETE']);
  });
});
