import { afterEach, describe, expect, it } from 'vitest';
import { bearerAuth } from './auth.ts';
import { readAll } from './body.ts';
import { createFhirClient, type FhirClient, type FhirClientOptions } from './client.ts';
import { FhirHttpError } from './errors.ts';
import {
  type LoopbackHandler,
  type LoopbackServer,
  startLoopbackServer,
  unusedPort,
} from './test-support/loopback-server.ts';

const outcome = (diagnostics: string) =>
  JSON.stringify({
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'transient', diagnostics }],
  });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(handler: LoopbackHandler): Promise<LoopbackServer> {
  const server = await startLoopbackServer(handler);
  cleanups.push(() => server.close());
  return server;
}

/** A client whose retry waits are recorded instead of slept. */
function clientFor(
  baseUrl: string,
  options: Partial<FhirClientOptions> = {},
): { client: FhirClient; sleeps: number[] } {
  const sleeps: number[] = [];
  const client = createFhirClient({
    baseUrl,
    retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 5_000 },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0,
    ...options,
  });
  cleanups.push(() => client.close());
  return { client, sleeps };
}

async function failure(promise: Promise<unknown>): Promise<FhirHttpError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FhirHttpError) return error;
    throw error;
  }
  throw new Error('expected a FhirHttpError');
}

describe('FHIR client against a loopback fake HTTP server (HTTP-level faults, not a FHIR server)', () => {
  describe('retries', () => {
    it('retries 503 honouring Retry-After in seconds, then returns the body', async () => {
      const server = await serve((_req, res, { n }) => {
        if (n <= 2) res.writeHead(503, { 'retry-after': '2' }).end('busy');
        else
          res
            .writeHead(200, { 'content-type': 'application/fhir+json' })
            .end('{"resourceType":"Patient","id":"a"}');
      });
      const { client, sleeps } = clientFor(`${server.url}/fhir`);
      const res = await client.json({ url: 'Patient/a' });
      expect(res).toMatchObject({ status: 200, attempts: 3, body: { resourceType: 'Patient', id: 'a' } });
      expect(sleeps).toEqual([2_000, 2_000]);
      expect(server.requests.map((r) => r.url)).toEqual([
        '/fhir/Patient/a',
        '/fhir/Patient/a',
        '/fhir/Patient/a',
      ]);
    });

    it('honours x-ms-retry-after-ms and an HTTP-date Retry-After', async () => {
      const now = Date.parse('2026-11-26T12:00:00Z');
      const server = await serve((_req, res, { n }) => {
        if (n === 1) res.writeHead(429, { 'x-ms-retry-after-ms': '150', 'retry-after': '9' }).end();
        else if (n === 2) res.writeHead(429, { 'retry-after': 'Thu, 26 Nov 2026 12:00:03 GMT' }).end();
        else res.writeHead(200).end('ok');
      });
      const { client, sleeps } = clientFor(server.url, { now: () => now });
      expect((await client.text({ url: 'x' })).body).toBe('ok');
      expect(sleeps).toEqual([150, 3_000]);
    });

    it('clamps absurd Retry-After values to maxDelayMs and ignores garbage (falls back to backoff)', async () => {
      const server = await serve((_req, res, { n }) => {
        if (n === 1) res.writeHead(503, { 'retry-after': '1000000000' }).end();
        else if (n === 2) res.writeHead(503, { 'retry-after': '-5' }).end();
        else if (n === 3) res.writeHead(503, { 'retry-after': 'later' }).end();
        else res.writeHead(200).end('ok');
      });
      const { client, sleeps } = clientFor(server.url);
      await client.text({ url: 'x' });
      // 5,000 = maxDelayMs; then equal-jitter backoff with random()=0: half of 100·2^(n-1).
      expect(sleeps).toEqual([5_000, 100, 200]);
    });

    it('gives up after maxAttempts with the last status, the parsed OperationOutcome and the attempt count', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(500, { 'content-type': 'application/fhir+json' }).end(outcome('database is down'));
      });
      const { client, sleeps } = clientFor(server.url);
      const error = await failure(client.text({ url: 'Patient' }));
      expect(error).toMatchObject({ kind: 'http', status: 500, attempts: 4, retryable: true, method: 'GET' });
      expect(error.outcome?.issue[0]?.diagnostics).toBe('database is down');
      expect(error.message).toContain('database is down');
      expect(server.requests).toHaveLength(4);
      expect(sleeps).toHaveLength(3);
    });

    it('does not retry other 4xx', async () => {
      const server = await serve((_req, res) =>
        res.writeHead(404, { 'content-type': 'application/fhir+json' }).end(outcome('gone')),
      );
      const { client } = clientFor(server.url);
      expect(await failure(client.text({ url: 'Patient/x' }))).toMatchObject({
        status: 404,
        attempts: 1,
        retryable: false,
      });
      expect(server.requests).toHaveLength(1);
    });

    it('returns error statuses instead of throwing when throwOnError is false', async () => {
      const server = await serve((_req, res) => res.writeHead(410).end('deleted'));
      const { client } = clientFor(server.url);
      expect(await client.text({ url: 'Patient/x', throwOnError: false })).toMatchObject({
        status: 410,
        body: 'deleted',
      });
    });
  });

  describe('non-idempotent requests', () => {
    it('does not retry a POST on 500 (it may have been applied)', async () => {
      const server = await serve((_req, res) => res.writeHead(500).end('boom'));
      const { client } = clientFor(server.url);
      const error = await failure(client.text({ method: 'POST', url: '$import', body: '{}' }));
      expect(error).toMatchObject({ status: 500, attempts: 1, method: 'POST' });
      expect(server.requests).toHaveLength(1);
    });

    it('retries a POST on 429 (the server refused it without acting)', async () => {
      const server = await serve((_req, res, { n }) => {
        if (n === 1) res.writeHead(429, { 'retry-after': '1' }).end();
        else res.writeHead(202, { 'content-location': 'http://x/poll' }).end();
      });
      const { client, sleeps } = clientFor(server.url);
      const res = await client.text({ method: 'POST', url: '$import', body: '{"a":1}' });
      expect(res).toMatchObject({ status: 202, attempts: 2 });
      expect(sleeps).toEqual([1_000]);
      expect(server.requests.map((r) => r.body)).toEqual(['{"a":1}', '{"a":1}']);
    });

    it('retries a POST declared idempotent (a batch of PUTs) on 503', async () => {
      const server = await serve((_req, res, { n }) =>
        n === 1 ? res.writeHead(503).end() : res.writeHead(200).end('{}'),
      );
      const { client } = clientFor(server.url);
      expect((await client.text({ method: 'POST', url: '', body: '{}', idempotent: true })).attempts).toBe(2);
    });

    it('retries a POST when the connection was refused (nothing was sent)', async () => {
      const port = await unusedPort();
      const { client, sleeps } = clientFor(`http://127.0.0.1:${port}/fhir`, {
        retry: { maxAttempts: 3, baseDelayMs: 10 },
      });
      const error = await failure(client.text({ method: 'POST', url: '$import', body: '{}' }));
      expect(error).toMatchObject({ kind: 'network', code: 'ECONNREFUSED', attempts: 3, retryable: true });
      expect(sleeps).toHaveLength(2);
    });
  });

  describe('broken connections and timeouts', () => {
    const resetMidBody: LoopbackHandler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/fhir+json', 'content-length': '100' });
      res.write('{"resourceType":');
      setTimeout(() => res.socket?.destroy(), 20);
    };

    it('retries a GET whose connection is reset in the middle of the body', async () => {
      const server = await serve((req, res, ctx) => {
        if (ctx.n === 1) resetMidBody(req, res, ctx);
        else
          res.writeHead(200, { 'content-type': 'application/fhir+json' }).end('{"resourceType":"Patient"}');
      });
      const { client } = clientFor(server.url);
      const res = await client.json({ url: 'Patient/a' });
      expect(res).toMatchObject({ attempts: 2, body: { resourceType: 'Patient' } });
    });

    it('does not retry a POST whose connection is reset mid-response', async () => {
      const server = await serve(resetMidBody);
      const { client } = clientFor(server.url);
      const error = await failure(client.text({ method: 'POST', url: '', body: '{}' }));
      expect(error).toMatchObject({ kind: 'network', attempts: 1, retryable: true });
      expect(error.code).toMatch(/^(UND_ERR_|ECONNRESET)/);
      expect(server.requests).toHaveLength(1);
    });

    it('times out a request whose headers never come, retries, and reports a timeout', async () => {
      const server = await serve((_req, res) => {
        setTimeout(() => res.writeHead(200).end('late'), 2_000).unref();
      });
      const { client } = clientFor(server.url, { timeoutMs: 150, retry: { maxAttempts: 2, baseDelayMs: 1 } });
      const started = Date.now();
      const error = await failure(client.text({ url: 'slow' }));
      expect(error).toMatchObject({ kind: 'timeout', attempts: 2, retryable: true });
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(server.requests).toHaveLength(2);
    });

    it('applies the total timeout to a buffered body that stalls after the headers', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
      });
      const { client } = clientFor(server.url, { timeoutMs: 150, retry: { maxAttempts: 1 } });
      expect(await failure(client.text({ url: 'stall' }))).toMatchObject({
        kind: 'timeout',
        code: 'TIMEOUT',
        attempts: 1,
      });
    });

    it('streams without buffering and fails the stream when it goes idle longer than idleTimeoutMs', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/fhir+ndjson' });
        res.write('{"line":1}\n');
        // ...and then nothing: the download must not hang forever.
      });
      const { client } = clientFor(server.url, { timeoutMs: 5_000 });
      const res = await client.stream({ url: 'Binary/1', idleTimeoutMs: 200 });
      const iterator = res.body[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(String(first.value)).toBe('{"line":1}\n'); // arrived while the server was still sending
      const started = Date.now();
      await expect(iterator.next()).rejects.toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    it('streams a large body chunk by chunk', async () => {
      const line = `${JSON.stringify({ resourceType: 'Observation', id: 'x', note: 'y'.repeat(1000) })}\n`;
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/fhir+ndjson' });
        for (let i = 0; i < 2_000; i++) res.write(line);
        res.end();
      });
      const { client } = clientFor(server.url);
      const res = await client.stream({ url: 'Binary/big' });
      let chunks = 0;
      let bytes = 0;
      for await (const chunk of res.body) {
        chunks++;
        bytes += Buffer.byteLength(chunk);
      }
      expect(bytes).toBe(2_000 * Buffer.byteLength(line));
      expect(chunks).toBeGreaterThan(1);
    });

    it('stops waiting when the caller aborts during a retry wait', async () => {
      const server = await serve((_req, res) => res.writeHead(503, { 'retry-after': '30' }).end());
      const client = createFhirClient({ baseUrl: server.url, retry: { maxDelayMs: 60_000 } });
      cleanups.push(() => client.close());
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const started = Date.now();
      expect(await failure(client.text({ url: 'x', signal: controller.signal }))).toMatchObject({
        kind: 'aborted',
        retryable: false,
      });
      expect(Date.now() - started).toBeLessThan(2_000);
    });
  });

  describe('headers, auth and redirects', () => {
    it('sends the User-Agent and the auth headers to the base origin only', async () => {
      const other = await serve((_req, res) => res.writeHead(200).end('other'));
      const server = await serve((_req, res) => res.writeHead(200).end('ok'));
      const { client } = clientFor(`${server.url}/fhir`, {
        auth: bearerAuth('tok-123'),
        userAgent: 'fhir-migrate-test/1',
      });
      await client.text({ url: 'metadata' });
      await client.text({ url: `${other.url}/file.ndjson` });
      await client.text({ url: `${other.url}/file2.ndjson`, auth: true });
      expect(server.requests[0]?.headers).toMatchObject({
        authorization: 'Bearer tok-123',
        'user-agent': 'fhir-migrate-test/1',
      });
      expect(other.requests[0]?.headers.authorization).toBeUndefined();
      expect(other.requests[1]?.headers.authorization).toBe('Bearer tok-123');
    });

    it('gives up on a 401 when the provider cannot refresh (static bearer)', async () => {
      const server = await serve((_req, res) => res.writeHead(401).end());
      const { client } = clientFor(server.url, { auth: bearerAuth('expired') });
      expect(await failure(client.text({ url: 'Patient' }))).toMatchObject({ status: 401, attempts: 1 });
      expect(server.requests).toHaveLength(1);
    });

    it('does not follow redirects', async () => {
      const target = await serve((_req, res) => res.writeHead(200).end('target'));
      const server = await serve((_req, res) => res.writeHead(302, { location: `${target.url}/x` }).end());
      const { client } = clientFor(server.url);
      expect(await client.text({ url: 'x' })).toMatchObject({ status: 302 });
      expect(target.requests).toHaveLength(0);
    });

    it('decodes text with the charset the server declares', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json+fhir;charset=ISO-8859-1' });
        res.end(Buffer.from('{"name":"M\u00fcller"}', 'latin1'));
      });
      const { client } = clientFor(server.url);
      expect((await client.json({ url: 'x' })).body).toEqual({ name: 'Müller' });
    });

    it('reports a non-JSON reply to json() as a protocol error', async () => {
      const server = await serve((_req, res) => res.writeHead(200).end('<html>'));
      const { client } = clientFor(server.url);
      expect(await failure(client.json({ url: 'x' }))).toMatchObject({ kind: 'protocol', status: 200 });
    });
  });

  describe('redaction', () => {
    it('keeps SAS tokens and credentials out of errors and log records', async () => {
      const server = await serve((req, res) =>
        res
          .writeHead(503, { 'content-type': 'application/fhir+json' })
          .end(outcome(`cannot read ${req.url}`)),
      );
      const records: object[] = [];
      const logger = { warn: (r: object) => records.push(r), debug: (r: object) => records.push(r) };
      const { client } = clientFor(server.url, { logger, retry: { maxAttempts: 2 } });
      const url = `${server.url.replace('http://', 'http://user:pw-secret@')}/c/f.ndjson?sv=2022&sig=sig-secret&se=2030`;
      const error = await failure(client.text({ url }));
      const rendered = [error.message, String(error), JSON.stringify(error), JSON.stringify(records)];
      for (const text of rendered) {
        expect(text).not.toContain('sig-secret');
        expect(text).not.toContain('pw-secret');
      }
      expect(records).toHaveLength(1);
      expect(JSON.stringify(records[0])).toContain('sig=REDACTED');
      expect(error.message).toContain('cannot read /c/f.ndjson?sv=REDACTED&sig=REDACTED&se=REDACTED');
    });
  });

  it('reads stream bodies of error replies into the error (stream mode)', async () => {
    const server = await serve((_req, res) =>
      res.writeHead(403, { 'content-type': 'application/fhir+json' }).end(outcome('forbidden file')),
    );
    const { client } = clientFor(server.url);
    const error = await failure(client.stream({ url: 'Binary/x' }));
    expect(error).toMatchObject({ status: 403 });
    expect(error.message).toContain('forbidden file');
    const ok = await serve((_req, res) => res.writeHead(200).end('a\nb\n'));
    const res = await clientFor(ok.url).client.stream({ url: 'Binary/y' });
    expect((await readAll(res.body)).toString()).toBe('a\nb\n');
  });
});
