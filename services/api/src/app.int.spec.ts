/** The status and control API over a real SQLite ledger and bus, through Fastify's inject(). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteBus } from '@fhir-migrate/shared/adapters/sqlite/bus-sqlite.ts';
import { openSqliteDatabase, type SqliteDatabase } from '@fhir-migrate/shared/adapters/sqlite/database.ts';
import { createSqliteLedger } from '@fhir-migrate/shared/adapters/sqlite/ledger-sqlite.ts';
import { declareTopology } from '@fhir-migrate/shared/application/topology.ts';
import { type Bus, DeadLetterError } from '@fhir-migrate/shared/ports/bus.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.ts';
import { migrationStartedEvent } from './test-fixtures.ts';

const at = '2026-01-01T00:00:00.000Z';
const apiKey = 'test-api-key-0123456789';

describe('status API (SQLite ledger, inject)', () => {
  let dir: string;
  let db: SqliteDatabase;
  let ledger: Ledger;
  let bus: Bus;
  let app: FastifyInstance;
  let readOnly: FastifyInstance;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fm-api-'));
    db = openSqliteDatabase(join(dir, 'state.sqlite'));
    ledger = createSqliteLedger(db);
    await ledger.append('m1', 'migration', 0, [migrationStartedEvent(at)]);
    const plan = (index: number, since: string, till: string, expectedCount: number) => ({
      type: 'ChunkPlanned',
      at,
      data: { chunkId: `chunk-00000${index}`, index, since, till, expectedCount },
    });
    await ledger.append('m1', 'chunk-000001', 0, [
      plan(1, '2025-01-01T00:00:00.000Z', '2025-01-31T00:00:00.000Z', 2),
      { type: 'ExportStarted', at, data: { statusUrl: 'http://s/status/1', attempt: 1 } },
      {
        type: 'ExportCompleted',
        at,
        data: {
          files: [
            {
              type: 'Patient',
              key: 'm1/chunk-000001/Patient-0001.ndjson',
              sourceUrl: 'http://s/Binary/1',
              lines: 2,
              bytes: 20,
              sha256: 'ab',
            },
          ],
          exported: { Patient: 2 },
          staged: { Patient: 2 },
          rejected: [],
          outOfWindow: 0,
          deletions: [],
        },
      },
    ]);
    await ledger.append('m1', 'chunk-000002', 0, [
      plan(2, '2025-01-31T00:00:00.000Z', '2025-03-02T00:00:00.000Z', 0),
      { type: 'ChunkSkipped', at, data: { reason: 'empty' } },
    ]);
    // A chunk that imported with one failed resource, then verified.
    await ledger.append('m1', 'chunk-000003', 0, [
      plan(3, '2025-03-02T00:00:00.000Z', '2025-04-01T00:00:00.000Z', 1),
    ]);
    bus = createSqliteBus(db);
    await declareTopology(bus);
    const deps = { ledger, bus, migrationId: 'm1', now: () => new Date('2026-01-01T00:10:00.000Z') };
    app = await buildApp({ ...deps, apiKey });
    readOnly = await buildApp(deps);
  });

  afterAll(async () => {
    await app.close();
    await readOnly.close();
    await bus.close();
    await ledger.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  const auth = { authorization: `Bearer ${apiKey}` };

  it('answers /healthz, /readyz and /api/info', async () => {
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
    expect((await app.inject({ url: '/api/info' })).json()).toMatchObject({
      migrationId: 'm1',
      sourceUrl: 'http://s/fhir',
      destinationUrl: 'http://d/fhir',
      mutationsEnabled: true,
    });
    expect((await readOnly.inject({ url: '/api/info' })).json()).toMatchObject({ mutationsEnabled: false });
  });

  it('summarises a migration, with the chunks in flight and their age', async () => {
    const res = await app.inject({ url: '/api/migrations/m1' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      migrationId: 'm1',
      started: true,
      watermark: '2025-01-01T00:00:00.000Z',
      chunks: { total: 3, byStatus: { exported: 1, skipped: 1, planned: 1 } },
      resources: { exported: 2, staged: 2, imported: 0 },
      failuresTotal: 0,
      control: 'running',
    });
    expect(body.running.map((r: { chunkId: string; status: string }) => [r.chunkId, r.status])).toEqual([
      ['chunk-000001', 'exported'],
      ['chunk-000003', 'planned'],
    ]);
    // The chunk's last event happened at `at`, ten minutes before the API's clock.
    expect(body.running[0].ageSeconds).toBe(600);
    expect(body.list).toBeUndefined();
    expect(body.startedAt).toBe(at);
    const unknown = await app.inject({ url: '/api/migrations/nope' });
    expect(unknown.statusCode).toBe(200);
    expect(unknown.json()).toMatchObject({ migrationId: 'nope', started: false, chunks: { total: 0 } });
  });

  it('lists chunks, filtered by status and paged', async () => {
    const all = await app.inject({ url: '/api/migrations/m1/chunks' });
    expect(all.json().total).toBe(3);
    expect(all.json().items.map((c: { chunkId: string; status: string }) => [c.chunkId, c.status])).toEqual([
      ['chunk-000001', 'exported'],
      ['chunk-000002', 'skipped'],
      ['chunk-000003', 'planned'],
    ]);
    const skipped = await app.inject({ url: '/api/migrations/m1/chunks?status=skipped' });
    expect(skipped.json()).toMatchObject({ total: 1, items: [{ chunkId: 'chunk-000002' }] });
    const newest = await app.inject({ url: '/api/migrations/m1/chunks?order=desc&limit=1' });
    expect(newest.json()).toMatchObject({ total: 3, items: [{ chunkId: 'chunk-000003' }] });
    const page = await app.inject({ url: '/api/migrations/m1/chunks?offset=1&limit=1' });
    expect(page.json()).toMatchObject({
      total: 3,
      offset: 1,
      limit: 1,
      items: [{ chunkId: 'chunk-000002' }],
    });
    const bad = await app.inject({ url: '/api/migrations/m1/chunks?status=bogus' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ status: 400, title: 'Bad request' });
  });

  it("returns one chunk's events, and problem+json for an unknown chunk or a bad id", async () => {
    const events = await app.inject({ url: '/api/migrations/m1/chunks/chunk-000001/events' });
    expect(events.json().map((e: { type: string }) => e.type)).toEqual([
      'ChunkPlanned',
      'ExportStarted',
      'ExportCompleted',
    ]);
    const missing = await app.inject({ url: '/api/migrations/m1/chunks/chunk-000009/events' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toContain('application/problem+json');
    const bad = await app.inject({ url: '/api/migrations/m1/chunks/..%2Fx/events' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ status: 400, title: 'Bad request' });
  });

  it('lists failed resources with their chunk, stage and source line, paged', async () => {
    await ledger.append('m2', 'chunk-000001', 0, [
      {
        type: 'ChunkPlanned',
        at,
        data: {
          chunkId: 'chunk-000001',
          index: 1,
          since: at,
          till: '2026-01-02T00:00:00.000Z',
          expectedCount: 3,
        },
      },
      { type: 'ExportStarted', at, data: { statusUrl: 'http://s/status/2', attempt: 1 } },
      {
        type: 'ExportCompleted',
        at,
        data: {
          files: [
            {
              type: 'Patient',
              key: 'm2/chunk-000001/Patient.ndjson',
              sourceUrl: 'http://s/Binary/2',
              lines: 3,
              bytes: 30,
              sha256: 'cd',
            },
          ],
          exported: { Patient: 3 },
          staged: { Patient: 2 },
          rejected: [{ type: 'Patient', id: 'bad', file: 'Patient.ndjson', line: 3, reason: 'not JSON' }],
          outOfWindow: 0,
          deletions: [],
        },
      },
    ]);
    const res = await app.inject({ url: '/api/migrations/m2/failures' });
    expect(res.json()).toEqual({
      total: 1,
      offset: 0,
      limit: 100,
      items: [
        {
          type: 'Patient',
          id: 'bad',
          file: 'Patient.ndjson',
          line: 3,
          reason: 'not JSON',
          chunkId: 'chunk-000001',
          stage: 'export',
        },
      ],
    });
    expect((await app.inject({ url: '/api/migrations/m2/failures?type=Observation' })).json().total).toBe(0);
    expect((await app.inject({ url: '/api/migrations/m2' })).json().failuresTotal).toBe(1);
  });

  it('refuses changes without a configured key, without a token and with a wrong token', async () => {
    const disabled = await readOnly.inject({
      method: 'POST',
      url: '/api/migrations/m1/pause',
      headers: auth,
    });
    expect(disabled.statusCode).toBe(403);
    expect(disabled.json().detail).toContain('no API key is configured');
    const none = await app.inject({ method: 'POST', url: '/api/migrations/m1/pause' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toContain('Bearer');
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/migrations/m1/pause',
      headers: { authorization: 'Bearer not-the-key-not-the-key' },
    });
    expect(wrong.statusCode).toBe(401);
    expect((await app.inject({ url: '/api/migrations/m1' })).json().control).toBe('running');
  });

  it('pauses, resumes (asking the planner to plan again) and stops; a stopped migration stays stopped', async () => {
    const planned: unknown[] = [];
    const sub = bus.subscribe('plan-tick', 'planner', async (m) => {
      planned.push(m.body);
    });
    try {
      const pause = await app.inject({ method: 'POST', url: '/api/migrations/m1/pause', headers: auth });
      expect(pause.statusCode).toBe(202);
      expect(pause.json()).toEqual({ control: 'paused' });
      expect((await app.inject({ url: '/api/migrations/m1' })).json().control).toBe('paused');
      // Pausing again records nothing new.
      const before = (await ledger.readStream('m1', 'migration')).length;
      await app.inject({ method: 'POST', url: '/api/migrations/m1/pause', headers: auth });
      expect((await ledger.readStream('m1', 'migration')).length).toBe(before);
      const resume = await app.inject({ method: 'POST', url: '/api/migrations/m1/resume', headers: auth });
      expect(resume.json()).toEqual({ control: 'running' });
      await expect.poll(() => planned.length).toBe(1);
      expect(planned[0]).toMatchObject({ migrationId: 'm1', reason: 'resume' });
      expect(
        (await app.inject({ method: 'POST', url: '/api/migrations/m1/stop', headers: auth })).json(),
      ).toEqual({
        control: 'stopped',
      });
      const again = await app.inject({ method: 'POST', url: '/api/migrations/m1/resume', headers: auth });
      expect(again.statusCode).toBe(409);
      expect(again.json().detail).toContain('stopped');
      const notStarted = await app.inject({ method: 'POST', url: '/api/migrations/m9/pause', headers: auth });
      expect(notStarted.statusCode).toBe(409);
    } finally {
      await sub.close();
    }
  });

  it('records a verification request and hands it to the verifier over the bus', async () => {
    const received: unknown[] = [];
    const sub = bus.subscribe('verification-requested', 'verifier', async (m) => {
      received.push(m.body);
    });
    try {
      const bad = await app.inject({
        method: 'POST',
        url: '/api/migrations/m1/verifications',
        headers: auth,
        payload: { kind: 'everything' },
      });
      expect(bad.statusCode).toBe(400);
      const res = await app.inject({
        method: 'POST',
        url: '/api/migrations/m1/verifications',
        headers: auth,
        payload: { kind: 'deep', count: 5 },
      });
      expect(res.statusCode).toBe(202);
      const { runId } = res.json();
      expect(res.headers.location).toBe(`/api/migrations/m1/verifications/${runId}`);
      await expect.poll(() => received.length).toBe(1);
      expect(received[0]).toEqual({ schemaVersion: 1, migrationId: 'm1', runId });
      const runs = (await app.inject({ url: '/api/migrations/m1/verifications' })).json().items;
      expect(runs).toMatchObject([
        { runId, kind: 'deep', status: 'requested', request: { kind: 'deep', count: 5 } },
      ]);
      expect(runs[0].requestedBy).toMatch(/^api /);
      expect((await app.inject({ url: `/api/migrations/m1/verifications/${runId}` })).json().runId).toBe(
        runId,
      );
      expect(
        (await app.inject({ url: '/api/migrations/m1/verifications/20250101T000000000-abcdef' })).statusCode,
      ).toBe(404);
    } finally {
      await sub.close();
    }
  });

  it('lists dead letters and replays them; replaying again finds nothing to replay', async () => {
    await bus.publish('chunk-planned', [
      {
        id: 'poison-1',
        body: {
          schemaVersion: 1,
          migrationId: 'm1',
          chunkId: 'chunk-000003',
          statusUrl: 'https://acct.blob.core.windows.net/c/f?sv=2024&sig=SECRETSIGNATURE',
        },
      },
    ]);
    const sub = bus.subscribe('chunk-planned', 'exporter', async () => {
      throw new DeadLetterError('injected: cannot be handled');
    });
    await expect
      .poll(async () => (await app.inject({ url: '/api/dead-letters' })).json().items.length)
      .toBe(1);
    await sub.close();
    const raw = (await app.inject({ url: '/api/dead-letters' })).body;
    expect(raw).not.toContain('SECRETSIGNATURE');
    const listed = JSON.parse(raw).items[0];
    expect(listed.body.statusUrl).toContain('sig=REDACTED');
    expect(listed).toMatchObject({
      id: 'poison-1',
      topic: 'chunk-planned',
      subscription: 'exporter',
      reason: 'injected: cannot be handled',
      migrationId: 'm1',
    });
    const unauth = await app.inject({
      method: 'POST',
      url: '/api/dead-letters/replay',
      payload: { all: true },
    });
    expect(unauth.statusCode).toBe(401);
    const replay = await app.inject({
      method: 'POST',
      url: '/api/dead-letters/replay',
      headers: auth,
      payload: { ids: ['poison-1'] },
    });
    expect(replay.json()).toEqual({ replayed: 1, ids: ['poison-1'], notFound: [] });
    expect((await app.inject({ url: '/api/dead-letters' })).json().items).toEqual([]);
    const twice = await app.inject({
      method: 'POST',
      url: '/api/dead-letters/replay',
      headers: auth,
      payload: { ids: ['poison-1'] },
    });
    expect(twice.json()).toEqual({ replayed: 0, ids: [], notFound: ['poison-1'] });
    // The replayed message is back on its subscription with a fresh delivery count.
    const redelivered: number[] = [];
    const again = bus.subscribe('chunk-planned', 'exporter', async (m) => {
      redelivered.push(m.deliveryCount);
    });
    await expect.poll(() => redelivered).toEqual([1]);
    await again.close();
  });

  it('rejects oversized and malformed bodies with problem+json', async () => {
    const big = await app.inject({
      method: 'POST',
      url: '/api/migrations/m1/verifications',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ kind: 'surface', filter: 'x'.repeat(70 * 1024) }),
    });
    expect(big.statusCode).toBe(413);
    expect(big.headers['content-type']).toContain('application/problem+json');
    const junk = await app.inject({
      method: 'POST',
      url: '/api/migrations/m1/verifications',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{not json',
    });
    expect(junk.statusCode).toBe(400);
    expect((await app.inject({ url: '/no/such/route' })).json()).toMatchObject({
      status: 404,
      title: 'Not found',
    });
  });

  it('publishes an OpenAPI document naming every route, with bearer security on the mutating ones', async () => {
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const path of [
      '/api/migrations/{migrationId}',
      '/api/migrations/{migrationId}/timeline',
      '/api/migrations/{migrationId}/chunks',
      '/api/migrations/{migrationId}/chunks/{chunkId}/events',
      '/api/migrations/{migrationId}/failures',
      '/api/migrations/{migrationId}/verifications',
      '/api/migrations/{migrationId}/pause',
      '/api/dead-letters',
      '/api/dead-letters/replay',
      '/healthz',
      '/readyz',
    ])
      expect(Object.keys(doc.paths)).toContain(path);
    expect(doc.paths['/api/migrations/{migrationId}/pause'].post.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/migrations/{migrationId}/verifications'].post.requestBody).toBeDefined();
  });

  it('serves the dashboard with a strict content security policy', async () => {
    const page = await app.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).toContain('/dashboard/dashboard.js');
    expect((await app.inject({ url: '/dashboard/dashboard.js' })).headers['content-type']).toContain(
      'javascript',
    );
    expect((await app.inject({ url: '/dashboard/..%2Fapp.ts' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/dashboard/nothing.js' })).statusCode).toBe(404);
  });

  it('answers over real HTTP too: a read, and a change with the token', async () => {
    const served = await buildApp({ ledger, bus, migrationId: 'm1', apiKey });
    await served.listen({ host: '127.0.0.1', port: 0 });
    try {
      const address = served.server.address();
      const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      const info = await fetch(`${base}/api/info`);
      expect(info.status).toBe(200);
      expect(await info.json()).toMatchObject({ migrationId: 'm1' });
      const refused = await fetch(`${base}/api/migrations/m1/verifications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'surface' }),
      });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      const accepted = await fetch(`${base}/api/migrations/m1/verifications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ kind: 'surface' }),
      });
      expect(accepted.status).toBe(202);
      expect(((await accepted.json()) as { runId: string }).runId).toMatch(/^\d{8}T\d{9}-[0-9a-f]{6}$/);
    } finally {
      await served.close();
    }
  });
});
