/**
 * The verification checks against the real HAPI servers: a seeded scenario, found missing on the empty
 * destination and copied there by repair() itself (independent of the pipeline), then drift made by hand (a hard delete on the source, an edit and a delete on the destination, a change after
 * the watermark) and each check made to find exactly that; repair then puts it right. Every check is scoped
 * to this test's seed with `_tag`, because the servers hold other tests' data. A second scenario is copied
 * by the real `fhir-migrate run` ($export → $import, which rewrites meta.versionId and meta.lastUpdated)
 * and must pass every check.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFhirClient } from '@fhir-migrate/shared/adapters/fhir-http/client.ts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { patientId, seededTypes } from '../../../../test/data/generator.ts';
import { migrationArgs, type Scenario, seedScenario } from '../../../../test/e2e/scenario.ts';
import { runCli } from '../../../../test/harness/fhir-migrate.ts';
import { fullReconcile, type ReconcileReport } from './reconcile.ts';
import { repair } from './repair.ts';
import { deepSample } from './sample.ts';
import { surfaceCheck, typesOnSource } from './surface.ts';
import type { CheckDeps, CheckScope } from './types.ts';

const { sourceUrl, destinationUrl } = inject('fhirServers');

const source = createFhirClient({ baseUrl: sourceUrl });
const destination = createFhirClient({ baseUrl: destinationUrl });
const workDir = join(mkdtempSync(join(tmpdir(), 'fhir-migrate-checks-')), 'work');
const deps: CheckDeps = { source, destination, workDir };

let s: Scenario;
let scope: CheckScope;
let total: number;
const current = (type: string) => s.report.types[type]?.current ?? 0;

async function http(method: 'GET' | 'PUT' | 'DELETE', url: string, body?: string) {
  const res = await fetch(url, {
    method,
    headers: {
      accept: 'application/fhir+json',
      'cache-control': 'no-cache',
      ...(body ? { 'content-type': 'application/fhir+json' } : {}),
    },
    ...(body ? { body } : {}),
  });
  return { status: res.status, body: await res.text() };
}

/** Reads a resource (none here hold decimals, so plain JSON is exact), changes it and writes it back. */
async function edit(base: string, ref: string, change: (r: Record<string, unknown>) => void): Promise<void> {
  const read = await http('GET', `${base}/${ref}`);
  expect(read.status).toBe(200);
  const resource: Record<string, unknown> = JSON.parse(read.body);
  change(resource);
  const put = await http('PUT', `${base}/${ref}`, JSON.stringify(resource));
  expect(put.status, put.body.slice(0, 300)).toBe(200);
}

function summary(r: ReconcileReport) {
  return { missing: r.missing, extra: r.extra, differing: r.differing, ok: r.ok };
}

beforeAll(async () => {
  s = await seedScenario(sourceUrl, { patients: 10, waves: 1, waveGapMs: 0 });
  scope = { types: [...seededTypes], filter: `_tag=urn:fhir-migrate:test|seed-${s.seed}` };
  total = s.report.totalCurrent;
});

afterAll(async () => {
  await Promise.all([source.close(), destination.close()]);
});

describe('verification checks on real HAPI servers', () => {
  // Refs of the drift made below.
  const deletedOnSource = () => `Observation/obs-${s.seed}-1-0-1`;
  const editedOnDestination = () => `Patient/${patientId(s.seed, 2)}`;
  const deletedOnDestination = () => `Observation/obs-${s.seed}-2-0-0`;
  const changedAfterWatermark = () => `Condition/cond-${s.seed}-4`;

  it('discovers exactly the seeded types on the source when no types are given', async () => {
    expect((await typesOnSource(deps, scope.filter)).sort()).toEqual([...seededTypes].sort());
  });

  it('finds everything missing on the empty destination, and repair copies it all', async () => {
    const empty = await fullReconcile(deps, scope);
    // Normally none is there yet; a pipeline test run at the same time may already have copied some of
    // this seed (its windows reach up to now), so the split between missing and matching is not fixed.
    expect(empty.totals).toMatchObject({ source: total, extra: 0, differing: 0, pending: 0 });
    expect(empty.totals.missing + empty.totals.matching).toBe(total);
    expect(empty.totals.destination).toBe(empty.totals.matching);
    expect(empty.missing).toHaveLength(empty.totals.missing);
    expect(empty.ok).toBe(empty.totals.missing === 0);
    const limited = await fullReconcile(deps, { ...scope, listLimit: 1 });
    expect(limited.missing).toEqual(empty.missing.slice(0, 1));
    expect(limited.truncated).toBe(empty.totals.missing > 1);

    const copied = await repair(deps, empty, { deleteExtra: false });
    expect(copied).toMatchObject({ restored: empty.totals.missing, updated: 0, deleted: 0, failures: [] });
  });

  it('a clean copy passes surface, deep and full checks', async () => {
    const progress: string[] = [];
    const surface = await surfaceCheck(deps, scope, (p) => progress.push(`${p.phase}:${p.side}`));
    expect(surface.ok).toBe(true);
    expect(surface.rows).toEqual(
      seededTypes.map((type) => ({ type, source: current(type), destination: current(type), difference: 0 })),
    );
    expect(progress).toHaveLength(seededTypes.length * 2);

    const deep = await deepSample(deps, { ...scope, count: 1000, seed: 1 });
    expect(deep).toMatchObject({ seed: 1, checked: total, pending: 0, mismatches: [], ok: true });
    expect(deep.perType.Observation).toEqual({ sampled: current('Observation'), mismatches: 0 });
    // A small sample takes up to `count` of every type, reproducibly.
    const small = await deepSample(deps, { ...scope, count: 2, seed: 1 });
    const again = await deepSample(deps, { ...scope, count: 2, seed: 1 });
    expect(small.checked).toBe(seededTypes.reduce((n, t) => n + Math.min(2, current(t)), 0));
    for (const t of seededTypes) expect(small.perType[t]?.sampled).toBe(Math.min(2, current(t)));
    expect(again).toMatchObject({ perType: small.perType, checked: small.checked });

    // Pages of 7: every type takes several pages, so next links are followed on both servers.
    const pages: number[] = [];
    const full = await fullReconcile(deps, { ...scope, pageSize: 7 }, (p) => pages.push(p.done));
    expect(summary(full)).toEqual({ missing: [], extra: [], differing: [], ok: true });
    expect(full.totals).toEqual({
      source: total,
      destination: total,
      matching: total,
      missing: 0,
      extra: 0,
      differing: 0,
      pending: 0,
    });
    expect(full.rows.find((r) => r.type === 'Observation')).toMatchObject({
      source: current('Observation'),
      matching: current('Observation'),
    });
    const expectedPages = seededTypes.reduce((n, t) => n + Math.max(1, Math.ceil(current(t) / 7)), 0);
    expect(full.stats.pages).toEqual({ source: expectedPages, destination: expectedPages });
    expect(full.stats.resources).toBe(2 * total);
    expect(full.stats.bytes).toBeGreaterThan(1000 * total);
    expect(pages.length).toBe(2 * expectedPages);
    expect(readdirSync(workDir)).toEqual([]);
  });

  it('finds a hard delete on the source (extra), an edit (differs) and a delete (missing) on the destination', async () => {
    expect((await http('DELETE', `${sourceUrl}/${deletedOnSource()}`)).status).toBe(200);
    expect((await http('GET', `${sourceUrl}/${deletedOnSource()}`)).status).toBe(410);
    await edit(destinationUrl, editedOnDestination(), (patient) => {
      const name = patient.name;
      if (!Array.isArray(name) || typeof name[0] !== 'object') throw new Error('seeded patient has no name');
      name[0].family = 'Geändert';
    });
    expect((await http('DELETE', `${destinationUrl}/${deletedOnDestination()}`)).status).toBe(200);

    // One Observation fewer on each side: the counts agree, which is why counts alone prove little.
    const surface = await surfaceCheck(deps, scope);
    expect(surface.ok).toBe(true);
    expect(surface.rows.find((r) => r.type === 'Observation')).toEqual({
      type: 'Observation',
      source: current('Observation') - 1,
      destination: current('Observation') - 1,
      difference: 0,
    });

    const deep = await deepSample(deps, { ...scope, count: 1000, seed: 2 });
    expect(deep.checked).toBe(total - 1);
    expect(deep.ok).toBe(false);
    const [editedType, editedId] = editedOnDestination().split('/');
    const [missingType, missingId] = deletedOnDestination().split('/');
    expect(deep.mismatches).toEqual(
      expect.arrayContaining([
        { type: editedType, id: editedId, kind: 'differs', paths: ['name[0].family'] },
        { type: missingType, id: missingId, kind: 'missing' },
      ]),
    );
    expect(deep.mismatches).toHaveLength(2);
    expect(deep.perType.Patient).toEqual({ sampled: current('Patient'), mismatches: 1 });

    const full = await fullReconcile(deps, { ...scope, pageSize: 7 });
    expect(summary(full)).toEqual({
      missing: [deletedOnDestination()],
      extra: [deletedOnSource()],
      differing: [{ ref: editedOnDestination(), paths: ['name[0].family'] }],
      ok: false,
    });
    expect(full.totals).toEqual({
      source: total - 1,
      destination: total - 1,
      matching: total - 3,
      missing: 1,
      extra: 1,
      differing: 1,
      pending: 0,
    });
    expect(full.rows.find((r) => r.type === 'Observation')).toMatchObject({
      missing: 1,
      extra: 1,
      differing: 0,
    });
    expect(full.truncated).toBe(false);
    expect(readdirSync(workDir)).toEqual([]);
  });

  it('with a watermark, a source change at or after it is pending, not a mismatch', async () => {
    const asOf = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    await edit(sourceUrl, changedAfterWatermark(), (condition) => {
      condition.onsetDateTime = '2001-02-03';
    });

    const withWatermark = await fullReconcile(deps, { ...scope, asOf });
    expect(withWatermark.asOf).toBe(asOf);
    expect(withWatermark.pending).toEqual([changedAfterWatermark()]);
    expect(withWatermark.differing.map((d) => d.ref)).toEqual([editedOnDestination()]);
    expect(withWatermark.totals).toMatchObject({ pending: 1, differing: 1, matching: total - 4 });
    const t = withWatermark.totals;
    expect(t.matching + t.missing + t.differing + t.pending).toBe(t.source);

    const withoutWatermark = await fullReconcile(deps, scope);
    expect(withoutWatermark.pending).toEqual([]);
    // Listed in the scope's type order (Patient before Condition), ids sorted within a type.
    expect(withoutWatermark.differing).toEqual([
      { ref: editedOnDestination(), paths: ['name[0].family'] },
      { ref: changedAfterWatermark(), paths: ['onsetDateTime'] },
    ]);

    const deep = await deepSample(deps, { ...scope, count: 1000, seed: 2, asOf });
    expect(deep.pending).toBe(1);
    expect(deep.checked).toBe(total - 2);
    expect(deep.mismatches.map((m) => `${m.type}/${m.id}:${m.kind}`).sort()).toEqual(
      [`${deletedOnDestination()}:missing`, `${editedOnDestination()}:differs`].sort(),
    );
  });

  it('repair restores the missing, overwrites the differing and, only when asked, deletes the extra', async () => {
    const before = await fullReconcile(deps, scope);
    const fixed = await repair(deps, before, { deleteExtra: false, bundleSize: 2 });
    expect(fixed).toMatchObject({ restored: 1, updated: 2, deleted: 0, failures: [] });

    // The restored Observation holds a 21-digit decimal: byte-exact on the destination.
    const [src, dst] = await Promise.all([
      http('GET', `${sourceUrl}/${deletedOnDestination()}`),
      http('GET', `${destinationUrl}/${deletedOnDestination()}`),
    ]);
    const decimal = /"value"\s*:\s*(-?[0-9.]+)/;
    expect(decimal.exec(dst.body)?.[1]).toBe(decimal.exec(src.body)?.[1]);
    expect(decimal.exec(src.body)?.[1]?.replace('.', '').length).toBeGreaterThan(18);

    const afterFix = await fullReconcile(deps, scope);
    expect(summary(afterFix)).toEqual({ missing: [], extra: [deletedOnSource()], differing: [], ok: false });

    // A resource gone on the source cannot be restored: a failure with its reason, not an exception.
    const gone = await repair(
      deps,
      { missing: [deletedOnSource()], differing: [], extra: [] },
      { deleteExtra: false },
    );
    expect(gone).toMatchObject({ restored: 0, updated: 0, deleted: 0 });
    expect(gone.failures).toEqual([{ ref: deletedOnSource(), reason: 'gone on the source (HTTP 410)' }]);

    const cleaned = await repair(deps, afterFix, { deleteExtra: true });
    expect(cleaned).toMatchObject({ restored: 0, updated: 0, deleted: 1, failures: [] });
    const clean = await fullReconcile(deps, { ...scope, pageSize: 7 });
    expect(summary(clean)).toEqual({ missing: [], extra: [], differing: [], ok: true });
    expect(clean.totals).toMatchObject({ source: total - 1, destination: total - 1, matching: total - 1 });
    expect((await deepSample(deps, { ...scope, count: 1000, seed: 3 })).ok).toBe(true);
    expect(readdirSync(workDir)).toEqual([]);
  });

  it('errors name the check, the server and the type; a filter may not override what a check sets', async () => {
    await expect(surfaceCheck(deps, { types: ['NoSuchType'] })).rejects.toThrow(
      /^surface check: the (source|destination) NoSuchType \(http:\/\/127\.0\.0\.1:\d+\/fhir\/NoSuchType\?_summary=count/,
    );
    await expect(fullReconcile(deps, { types: ['NoSuchType'] })).rejects.toThrow(
      /^full reconciliation: the (source|destination) NoSuchType/,
    );
    expect(readdirSync(workDir)).toEqual([]);
    await expect(fullReconcile(deps, { ...scope, filter: '_count=1' })).rejects.toThrow(/may not set _count/);
    await expect(surfaceCheck(deps, { types: ['patient/../x'] })).rejects.toThrow(/not a FHIR resource type/);
  });
});

describe('verification checks after a real migration by the CLI', () => {
  let m: Scenario;
  let mScope: CheckScope;

  beforeAll(async () => {
    m = await seedScenario(sourceUrl, { patients: 4, waves: 1, waveGapMs: 0 });
    mScope = { types: [], filter: `_tag=urn:fhir-migrate:test|seed-${m.seed}` };
    const run = await runCli([
      'run',
      '--until-caught-up',
      ...migrationArgs(m, sourceUrl, destinationUrl, ['--chunk-duration', '1h']),
    ]);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
  });

  it('passes surface, deep and full checks on the types found on the source', async () => {
    const n = m.report.totalCurrent;
    const surface = await surfaceCheck(deps, mScope);
    expect(surface.ok).toBe(true);
    expect(surface.rows.map((r) => r.type).sort()).toEqual([...seededTypes].sort());
    expect(surface.rows.reduce((sum, r) => sum + r.destination, 0)).toBe(n);
    const deep = await deepSample(deps, { ...mScope, count: 1000, seed: 4 });
    expect(deep).toMatchObject({ checked: n, mismatches: [], ok: true });
    const full = await fullReconcile(deps, mScope);
    expect(summary(full)).toEqual({ missing: [], extra: [], differing: [], ok: true });
    expect(full.totals).toMatchObject({ source: n, destination: n, matching: n });
  });
});
