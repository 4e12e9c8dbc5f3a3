import { afterEach, describe, expect, it } from 'vitest';
import { createFhirClient, type FhirClient } from '../client.ts';
import { FhirHttpError } from '../errors.ts';
import { type LoopbackServer, startLoopbackServer } from '../test-support/loopback-server.ts';
import { createRestImporter, type RestImporterOptions } from './import-rest.ts';

interface Entry {
  resource?: { id?: string; subject?: { reference?: string } };
  request: { method: string; url: string };
}

type EntryReply = { status: string; outcome?: unknown };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const oo = (diagnostics: string) => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'processing', diagnostics }],
});

/**
 * A fake batch endpoint: `decide` answers the whole Bundle (return a status to reject it) or each entry.
 * Replies can be delayed to make concurrency observable.
 */
async function fakeBatchServer(options: {
  whole?: (
    body: string,
    n: number,
  ) => { status: number; headers?: Record<string, string>; body?: unknown } | undefined;
  entry?: (entry: Entry, n: number) => EntryReply;
  delayMs?: (n: number) => number;
}): Promise<{ server: LoopbackServer; arrivals: { n: number; active: number; entries: number }[] }> {
  let active = 0;
  const arrivals: { n: number; active: number; entries: number }[] = [];
  const server = await startLoopbackServer(async (_req, res, { body, n }) => {
    active++;
    const entries: Entry[] = JSON.parse(body).entry;
    arrivals.push({ n, active, entries: entries.length });
    const delayMs = options.delayMs?.(n) ?? 0;
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    active--;
    const whole = options.whole?.(body, n);
    if (whole) {
      res.writeHead(whole.status, { 'content-type': 'application/fhir+json', ...whole.headers });
      res.end(whole.body === undefined ? '' : JSON.stringify(whole.body));
      return;
    }
    const reply = {
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: entries.map((e) => ({ response: options.entry?.(e, n) ?? { status: '201 Created' } })),
    };
    res.writeHead(200, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(reply));
  });
  cleanups.push(() => server.close());
  return { server, arrivals };
}

function importerFor(server: LoopbackServer, options: RestImporterOptions = {}, retries = 3) {
  const client: FhirClient = createFhirClient({
    baseUrl: `${server.url}/fhir`,
    retry: { maxAttempts: retries, baseDelayMs: 1 },
    sleep: async () => {},
  });
  cleanups.push(() => client.close());
  return createRestImporter(client, {
    ...options,
    backoff: { baseDelayMs: 5, maxDelayMs: 50, ...options.backoff },
  });
}

async function* linesOf(texts: string[]) {
  for (const [i, text] of texts.entries()) yield { line: i + 1, text };
}

const obs = (id: string, extra = '') =>
  `{"resourceType":"Observation","id":"${id}","meta":{"lastUpdated":"2026-01-01T00:00:00.000+00:00"},"status":"final"${extra}}`;

describe('REST importer against a loopback fake batch endpoint (not a FHIR server)', () => {
  it('sends lines byte for byte as id-preserving PUTs and reports every line that is not imported', async () => {
    const decimalLine = obs('o1', ',"valueQuantity":{"value":37.0000000000000000000,"unit":"Cel"}');
    const { server } = await fakeBatchServer({
      entry: (e) =>
        e.resource?.subject?.reference === 'Foo/1'
          ? {
              status: '422 Unprocessable Entity',
              outcome: oo("HAPI-0931: Invalid reference found at path 'Observation.subject'"),
            }
          : { status: '201 Created' },
    });
    const importer = importerFor(server, { bundleSize: 100 });
    const result = await importer.applyFile(
      'Observation',
      linesOf([
        decimalLine,
        '{"resourceType":"Observation"',
        obs('o3', ',"subject":{"reference":"Foo/1"}'),
        '',
        '{"resourceType":"Patient","id":"p1","meta":{"lastUpdated":"2026-01-01T00:00:00Z"}}',
        '{"resourceType":"Observation","status":"final"}',
        '{"resourceType":"Observation","id":"o7","status":"final"}',
      ]),
    );
    expect(result.imported).toBe(2);
    expect(result.failed).toEqual([
      { line: 2, type: 'Observation', reason: 'invalid-json: not valid JSON (at position 29)' },
      {
        line: 3,
        type: 'Observation',
        id: 'o3',
        status: 422,
        reason:
          "HTTP 422: error processing: HAPI-0931: Invalid reference found at path 'Observation.subject'",
      },
      { line: 4, type: 'Observation', reason: 'invalid-json: blank line' },
      { line: 5, type: 'Observation', reason: 'wrong-type: expected Observation, found Patient' },
      { line: 6, type: 'Observation', reason: 'missing-id: id is missing' },
    ]);
    expect(server.requests).toHaveLength(1);
    const body = server.requests[0]?.body ?? '';
    expect(body).toContain(`{"resource":${decimalLine},"request":{"method":"PUT","url":"Observation/o1"}}`);
    expect(body).toContain('"value":37.0000000000000000000,');
    expect(JSON.parse(body)).toMatchObject({ resourceType: 'Bundle', type: 'batch' });
    expect(server.requests[0]?.headers['content-type']).toBe('application/fhir+json');
  });

  it('splits a Bundle the server rejects as a whole until the bad line stands alone', async () => {
    const { server } = await fakeBatchServer({
      whole: (body) =>
        body.includes('not-a-date')
          ? {
              status: 400,
              body: oo(
                'HAPI-0450: Failed to parse request body as JSON resource. HAPI-1821: [element="birthDate"]',
              ),
            }
          : undefined,
    });
    const importer = importerFor(server, { bundleSize: 8 });
    const lines = Array.from({ length: 8 }, (_, i) =>
      i === 5 ? obs('o6', ',"effectiveDateTime":"not-a-date"') : obs(`o${i + 1}`),
    );
    const result = await importer.applyFile('Observation', linesOf(lines));
    expect(result.imported).toBe(7);
    expect(result.failed).toEqual([
      {
        line: 6,
        type: 'Observation',
        id: 'o6',
        status: 400,
        reason:
          'HTTP 400: error processing: HAPI-0450: Failed to parse request body as JSON resource. HAPI-1821: [element="birthDate"]',
      },
    ]);
    // 8 → 4+4 → (4 ok) 2+2 → (2 ok) 1+1
    expect(server.requests.map((r) => JSON.parse(r.body).entry.length).sort()).toEqual([1, 1, 2, 2, 4, 4, 8]);
  });

  it('backs off on 429, halves the Bundles in flight, then slowly raises them again', async () => {
    // Replies take 40 ms, except the 3rd request, which is refused at once with a 60 ms Retry-After.
    const { server, arrivals } = await fakeBatchServer({
      delayMs: (n) => (n === 3 ? 0 : 40),
      whole: (_body, n) => (n === 3 ? { status: 429, headers: { 'x-ms-retry-after-ms': '60' } } : undefined),
    });
    const importer = importerFor(server, { bundleSize: 1, concurrency: 4, backoff: { maxDelayMs: 1_000 } });
    const result = await importer.applyFile(
      'Observation',
      linesOf(Array.from({ length: 40 }, (_, i) => obs(`o${i}`))),
    );
    expect(result).toEqual({ imported: 40, failed: [] });
    expect(server.requests).toHaveLength(41); // the refused Bundle was sent again
    expect(Math.max(...arrivals.map((a) => a.active))).toBe(4);
    const throttledAt = server.requests[2]?.at ?? 0;
    const later = server.requests.slice(4);
    // Nothing was sent during the pause the server asked for...
    expect(Math.min(...later.map((r) => r.at)) - throttledAt).toBeGreaterThanOrEqual(55);
    // ...then at most 2 Bundles in flight, and more again once replies come back clean.
    expect(Math.max(...arrivals.slice(4, 8).map((a) => a.active))).toBe(2);
    expect(Math.max(...arrivals.slice(-10).map((a) => a.active))).toBeGreaterThanOrEqual(3);
  });

  it('re-sends entries that a batch-response throttled one by one', async () => {
    const { server } = await fakeBatchServer({
      entry: (e, n) =>
        n === 1 && e.resource?.id === 'o2' ? { status: '429 Too Many Requests' } : { status: '200 OK' },
    });
    const importer = importerFor(server, { bundleSize: 3 });
    expect(await importer.applyFile('Observation', linesOf([obs('o1'), obs('o2'), obs('o3')]))).toEqual({
      imported: 3,
      failed: [],
    });
    expect(server.requests.map((r) => JSON.parse(r.body).entry.map((e: Entry) => e.request.url))).toEqual([
      ['Observation/o1', 'Observation/o2', 'Observation/o3'],
      ['Observation/o2'],
    ]);
  });

  it('throws a retryable error when the server keeps failing (the file can be re-applied)', async () => {
    const { server } = await fakeBatchServer({ whole: () => ({ status: 503 }) });
    const importer = importerFor(server, { bundleSize: 2 }, 3);
    const error = await importer.applyFile('Observation', linesOf([obs('o1')])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FhirHttpError);
    expect(error).toMatchObject({ status: 503, retryable: true, attempts: 3 });
    expect(server.requests).toHaveLength(3);
  });

  it('throws a permanent error for a whole-Bundle 403 instead of blaming each resource', async () => {
    const { server } = await fakeBatchServer({ whole: () => ({ status: 403, body: oo('forbidden') }) });
    const importer = importerFor(server, { bundleSize: 4 });
    await expect(importer.applyFile('Observation', linesOf([obs('o1'), obs('o2')]))).rejects.toMatchObject({
      status: 403,
      retryable: false,
    });
    expect(server.requests).toHaveLength(1);
  });

  it('applies deletes: 2xx, 404 and 410 count as deleted, others fail with the reason', async () => {
    const { server } = await fakeBatchServer({
      entry: (e) => {
        if (e.request.url.endsWith('/g404')) return { status: '404 Not Found' };
        if (e.request.url.endsWith('/g410')) return { status: '410 Gone' };
        if (e.request.url.endsWith('/c409'))
          return { status: '409 Conflict', outcome: oo('referenced by Encounter/e1') };
        return { status: '204 No Content' };
      },
    });
    const importer = importerFor(server, { bundleSize: 2 });
    const result = await importer.applyDeletes([
      { type: 'Patient', id: 'p1' },
      { type: 'Patient', id: 'g404' },
      { type: 'Observation', id: 'g410' },
      { type: 'Patient', id: 'c409' },
      { type: 'Patient', id: '../metadata' },
    ]);
    expect(result).toEqual({
      deleted: 3,
      failed: [
        { type: 'Patient', id: '../metadata', reason: 'not a valid Type/id reference' },
        {
          type: 'Patient',
          id: 'c409',
          status: 409,
          reason: 'HTTP 409: error processing: referenced by Encounter/e1',
        },
      ],
    });
    const sent = server.requests.flatMap((r) =>
      JSON.parse(r.body).entry.map((e: Entry) => `${e.request.method} ${e.request.url}`),
    );
    expect(sent).toEqual([
      'DELETE Patient/p1',
      'DELETE Patient/g404',
      'DELETE Observation/g410',
      'DELETE Patient/c409',
    ]);
  });
});
