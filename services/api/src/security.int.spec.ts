/**
 * The API's security controls over a real SQLite ledger and bus, through inject(): every mutating route
 * (found by an onRoute hook, so a new one cannot be missed) refuses callers without the right token and
 * changes nothing; bodies over 64 KiB, long URLs, too many requests and too many wrong tokens are refused
 * with problem+json; no answer repeats the API key or a presented token.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteBus } from '@fhir-migrate/shared/adapters/sqlite/bus-sqlite.ts';
import { openSqliteDatabase, type SqliteDatabase } from '@fhir-migrate/shared/adapters/sqlite/database.ts';
import { createSqliteLedger } from '@fhir-migrate/shared/adapters/sqlite/ledger-sqlite.ts';
import { declareTopology } from '@fhir-migrate/shared/application/topology.ts';
import { type Bus, DeadLetterError } from '@fhir-migrate/shared/ports/bus.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import type { FastifyInstance, LightMyRequestResponse, RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ApiDeps, buildApp } from './app.ts';
import { migrationStartedEvent } from './test-fixtures.ts';

const at = '2026-01-01T00:00:00.000Z';
const apiKey = 'sec-api-key-5f0c2a9e71d4';
const wrongToken = 'wrong-token-b7e1c3d9a042';
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A value each path parameter accepts; a route with a parameter not listed here fails the suite. */
const paramValues: Record<string, string> = {
  migrationId: 'm1',
  chunkId: 'chunk-000001',
  runId: '20260101T000000000-abcdef',
  file: 'dashboard.js',
};

interface Route {
  method: string;
  url: string;
}

function collector() {
  const routes: Route[] = [];
  const onRoute = (route: RouteOptions) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  };
  return { routes, onRoute };
}

function concrete(url: string): string {
  return url.replace(/:(\w+)/g, (_, name: string) => {
    const value = paramValues[name];
    if (!value) throw new Error(`no sample value for the path parameter :${name} of ${url}`);
    return value;
  });
}

/** A body each mutating route would accept, so that a refusal is the token's doing and not validation's. */
function sampleBody(url: string): object {
  if (url.endsWith('/verifications')) return { kind: 'surface' };
  if (url.endsWith('/dead-letters/replay')) return { all: true };
  return {};
}

function expectProblem(res: LightMyRequestResponse, status: number) {
  expect(res.statusCode, `${res.statusCode} ${res.body}`).toBe(status);
  expect(res.headers['content-type']).toContain('application/problem+json');
  expect(res.json()).toMatchObject({ type: 'about:blank', status });
}

/** Neither the body nor any header of the answer contains `secret`. */
function expectNoEcho(res: LightMyRequestResponse, secret: string) {
  expect(res.body).not.toContain(secret);
  for (const [name, value] of Object.entries(res.headers))
    expect(`${name}: ${String(value)}`).not.toContain(secret);
}

describe('API security controls (SQLite ledger and bus, inject)', () => {
  let dir: string;
  let db: SqliteDatabase;
  let ledger: Ledger;
  let bus: Bus;
  let deps: ApiDeps;
  const built: FastifyInstance[] = [];
  const secured = collector();
  const disabled = collector();
  let app: FastifyInstance;
  let readOnly: FastifyInstance;

  const build = async (extra: Partial<ApiDeps>) => {
    const instance = await buildApp({ ...deps, ...extra });
    built.push(instance);
    return instance;
  };

  /** Every row of every table of the SQLite file that holds the ledger and the bus. */
  const snapshot = () =>
    (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string;
      }[]
    ).map(({ name }) => ({ name, rows: db.prepare(`SELECT * FROM "${name}"`).all() }));

  const mutating = (routes: Route[]) => routes.filter((r) => !safeMethods.has(r.method));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fm-api-security-'));
    db = openSqliteDatabase(join(dir, 'state.sqlite'));
    ledger = createSqliteLedger(db);
    bus = createSqliteBus(db);
    await declareTopology(bus);
    await ledger.append('m1', 'migration', 0, [migrationStartedEvent(at)]);
    // A dead letter, so that a replay that got through would change the bus.
    await bus.publish('chunk-planned', [
      { id: 'poison-1', body: { schemaVersion: 1, migrationId: 'm1', chunkId: 'chunk-000001' } },
    ]);
    const sub = bus.subscribe('chunk-planned', 'exporter', async () => {
      throw new DeadLetterError('injected');
    });
    await vi.waitFor(async () =>
      expect(await bus.listDeadLetters('chunk-planned', 'exporter')).toHaveLength(1),
    );
    await sub.close();
    deps = { ledger, bus, migrationId: 'm1', now: () => new Date('2026-01-01T00:10:00.000Z') };
    // Enough allowed failures for the route sweep; the lockout has its own app below.
    app = await build({ apiKey, rateLimits: { authFailures: { max: 1000 } }, onRoute: secured.onRoute });
    readOnly = await build({ onRoute: disabled.onRoute });
  });

  afterAll(async () => {
    for (const instance of built) await instance.close();
    await bus.close();
    await ledger.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('collects every route, the mutating ones among them', () => {
    const names = mutating(secured.routes).map((r) => `${r.method} ${r.url}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'POST /api/migrations/:migrationId/pause',
        'POST /api/migrations/:migrationId/resume',
        'POST /api/migrations/:migrationId/stop',
        'POST /api/migrations/:migrationId/verifications',
        'POST /api/dead-letters/replay',
      ]),
    );
    expect(secured.routes.map((r) => `${r.method} ${r.url}`)).toContain('GET /api/migrations/:migrationId');
    expect(disabled.routes).toEqual(secured.routes);
    for (const route of secured.routes) expect(() => concrete(route.url)).not.toThrow();
  });

  it('refuses every mutating route without a token, with a wrong one and without a configured key, changing nothing', async () => {
    const before = snapshot();
    for (const route of mutating(secured.routes)) {
      const request = {
        method: route.method as 'POST',
        url: concrete(route.url),
        payload: sampleBody(route.url),
      };
      const none = await app.inject(request);
      expectProblem(none, 401);
      expect(none.headers['www-authenticate']).toContain('Bearer');
      const wrong = await app.inject({ ...request, headers: { authorization: `Bearer ${wrongToken}` } });
      expectProblem(wrong, 401);
      expectNoEcho(wrong, wrongToken);
      const scheme = await app.inject({ ...request, headers: { authorization: `Basic ${apiKey}` } });
      expectProblem(scheme, 401);
    }
    for (const route of mutating(disabled.routes)) {
      const refused = await readOnly.inject({
        method: route.method as 'POST',
        url: concrete(route.url),
        payload: sampleBody(route.url),
        headers: { authorization: `Bearer ${apiKey}` },
      });
      expectProblem(refused, 403);
      expectNoEcho(refused, apiKey);
    }
    expect(snapshot()).toEqual(before);
  });

  it('answers 413 problem+json to a 100 KiB body, before anything is recorded', async () => {
    const before = snapshot();
    const big = await app.inject({
      method: 'POST',
      url: '/api/migrations/m1/verifications',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ kind: 'surface', filter: 'x'.repeat(100 * 1024) }),
    });
    expectProblem(big, 413);
    expect(snapshot()).toEqual(before);
  });

  it('refuses long URLs and path segments longer than any id', async () => {
    expectProblem(await app.inject({ url: `/api/migrations/m1/failures?type=${'A'.repeat(3000)}` }), 414);
    expectProblem(await app.inject({ url: `/api/migrations/${'m'.repeat(65)}` }), 414);
    expectProblem(await app.inject({ url: '/api/migrations/%zz' }), 400);
    // An unknown path is named in the answer, but not at any length.
    const unknown = await app.inject({ url: `/${'x'.repeat(1500)}` });
    expectProblem(unknown, 404);
    expect(unknown.json().detail.length).toBeLessThan(300);
  });

  it('limits reads and changes per client, each in its own window, with 429 and Retry-After', async () => {
    const tight = await build({
      apiKey,
      rateLimits: { reads: { max: 3 }, writes: { max: 2, windowMs: 30_000 } },
    });
    for (let i = 0; i < 3; i++) expect((await tight.inject({ url: '/healthz' })).statusCode).toBe(200);
    const reads = await tight.inject({ url: '/api/info' });
    expectProblem(reads, 429);
    expect(Number(reads.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(reads.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(reads.headers['x-ratelimit-limit']).toBe('3');
    expect(reads.json().detail).toContain('more than 3 reads');
    // Unknown routes count too (no free probing for URLs).
    expectProblem(await tight.inject({ url: '/no/such/route' }), 429);
    // Another client is counted on its own.
    expect((await tight.inject({ url: '/healthz', remoteAddress: '192.0.2.7' })).statusCode).toBe(200);

    const before = snapshot();
    const pause = { method: 'POST' as const, url: '/api/migrations/m1/pause' };
    for (let i = 0; i < 2; i++) expectProblem(await tight.inject(pause), 401);
    const writes = await tight.inject({ ...pause, headers: { authorization: `Bearer ${apiKey}` } });
    expectProblem(writes, 429);
    expect(Number(writes.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(writes.headers['retry-after'])).toBeLessThanOrEqual(30);
    expect(writes.json().detail).toContain('more than 2 changes in 30 s');
    expect(snapshot()).toEqual(before);
  });

  it('locks out a client after repeated wrong tokens, even when it then presents the right one', async () => {
    const guarded = await build({ apiKey, rateLimits: { authFailures: { max: 3, windowMs: 600_000 } } });
    const before = snapshot();
    const pause = { method: 'POST' as const, url: '/api/migrations/m1/pause' };
    const wrong = { ...pause, headers: { authorization: `Bearer ${wrongToken}` } };
    for (let i = 0; i < 3; i++) expectProblem(await guarded.inject(wrong), 401);
    const locked = await guarded.inject(wrong);
    expectProblem(locked, 429);
    expectNoEcho(locked, wrongToken);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(500);
    expect(locked.headers['retry-after']).toMatch(/^\d+$/);
    const right = await guarded.inject({ ...pause, headers: { authorization: `Bearer ${apiKey}` } });
    expectProblem(right, 429);
    expect(snapshot()).toEqual(before);
    // Reads go on, and another client may still try.
    expect((await guarded.inject({ url: '/api/info' })).statusCode).toBe(200);
    const other = await guarded.inject({ ...wrong, remoteAddress: '192.0.2.8' });
    expectProblem(other, 401);
  });

  it('stops the build on a limit that is not a positive whole number', async () => {
    await expect(buildApp({ ...deps, rateLimits: { writes: { max: 0 } } })).rejects.toThrow(
      'rateLimits.writes.max = 0',
    );
    await expect(buildApp({ ...deps, rateLimits: { reads: { windowMs: 1.5 } } })).rejects.toThrow(
      'rateLimits.reads.windowMs',
    );
  });

  it('serves a dashboard that keeps the key out of URLs, form submissions and lasting storage', async () => {
    const page = await app.inject({ url: '/' });
    expect(page.headers['content-security-policy']).toContain("form-action 'none'");
    const input = /<input[^>]*id="api-key"[^>]*>/.exec(page.body)?.[0];
    expect(input).toContain('type="password"');
    // A control without a name is never part of a form submission, so it cannot land in a query string.
    expect(input).not.toContain('name=');
    const script = (await app.inject({ url: '/dashboard/dashboard.js' })).body;
    expect(script).toContain('sessionStorage');
    expect(script).not.toContain('localStorage');
    expect(script).not.toMatch(
      /document\.cookie|location\.(href|search|hash)\s*=|history\.(push|replace)State/,
    );
  });

  it('never repeats the API key, on any route, and accepts each mutating route with it', async () => {
    const auth = { authorization: `Bearer ${apiKey}` };
    for (const route of secured.routes.filter((r) => safeMethods.has(r.method)))
      expectNoEcho(
        await app.inject({ method: route.method as 'GET', url: concrete(route.url), headers: auth }),
        apiKey,
      );
    for (const url of ['/no/such/route', '/api/migrations/m1/chunks?status=bogus', '/dashboard/nothing.js'])
      expectNoEcho(await app.inject({ url, headers: auth }), apiKey);
    expectNoEcho(
      await app.inject({
        method: 'POST',
        url: '/api/migrations/m1/verifications',
        headers: auth,
        payload: {},
      }),
      apiKey,
    );
    // Last, because these change the migration: the sample requests are valid ones, so the refusals above
    // were the token's doing.
    for (const route of mutating(secured.routes)) {
      const res = await app.inject({
        method: route.method as 'POST',
        url: concrete(route.url),
        payload: sampleBody(route.url),
        headers: auth,
      });
      expect(res.statusCode, `${route.method} ${route.url}: ${res.body}`).toBeLessThan(300);
      expectNoEcho(res, apiKey);
    }
  });
});
