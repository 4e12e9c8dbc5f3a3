/**
 * Operating a migration through the real CLI against the real HAPI servers: verify (surface, deep, full,
 * --fix, --delete-extra), cutover's go/no-go, dead-letter replay end to end, and status --watch. Every
 * check is scoped to this test's seed with `_tag`, because the servers hold other tests' data.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSqliteBus } from '@fhir-migrate/shared/adapters/sqlite/bus-sqlite.ts';
import { openSqliteDatabase } from '@fhir-migrate/shared/adapters/sqlite/database.ts';
import { createSqliteLedger } from '@fhir-migrate/shared/adapters/sqlite/ledger-sqlite.ts';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { seedTagSystem } from '../data/generator.ts';
import { runCli, startCli } from '../harness/fhir-migrate.ts';
import { migrationArgs, type Scenario, type StatusJson, seedScenario } from './scenario.ts';

const { sourceUrl, destinationUrl } = inject('fhirServers');

async function http(method: 'GET' | 'PUT' | 'DELETE', url: string, body?: string) {
  const res = await fetch(url, {
    method,
    headers: {
      accept: 'application/fhir+json',
      'content-type': 'application/fhir+json',
      'cache-control': 'no-cache',
    },
    ...(body ? { body } : {}),
  });
  return { status: res.status, body: await res.text() };
}

interface VerifyJson {
  ok: boolean;
  surface?: { ok: boolean; rows: { type: string; source: number; destination: number }[] };
  deep?: {
    ok: boolean;
    checked: number;
    mismatches: { type: string; id: string; kind: string; paths?: string[] }[];
  };
  full?: {
    ok: boolean;
    totals: Record<string, number>;
    missing: string[];
    extra: string[];
    differing: { ref: string; paths: string[] }[];
    repair?: { restored: number; updated: number; deleted: number; failures: unknown[] };
  };
}

const filterOf = (s: Scenario) => `_tag=${seedTagSystem}|seed-${s.seed}`;

describe('verify: every check finds what it should, and --fix repairs it', () => {
  let s: Scenario;
  const verify = async (...extra: string[]) => {
    const res = await runCli(['verify', '--state', s.state, '--filter', filterOf(s), '--json', ...extra]);
    if (res.code !== 0 && res.code !== 1)
      throw new Error(`verify exited ${res.code}: ${res.stderr.slice(-2000)}`);
    return { code: res.code, report: JSON.parse(res.stdout) as VerifyJson, seconds: res.seconds };
  };

  beforeAll(async () => {
    s = await seedScenario(sourceUrl, { patients: 8, waves: 2, waveGapMs: 1000 });
    const run = await runCli(['run', ...migrationArgs(s, sourceUrl, destinationUrl), '--until-caught-up']);
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
  });

  it('reports a clean migration as clean, and records the runs in the ledger', async () => {
    const { code, report, seconds } = await verify('--deep', '3', '--full');
    expect(code).toBe(0);
    expect(report.surface?.ok).toBe(true);
    expect(report.surface?.rows.find((r) => r.type === 'Patient')).toMatchObject({
      source: 8,
      destination: 8,
    });
    expect(report.deep?.ok).toBe(true);
    expect(report.deep?.checked).toBeGreaterThan(0);
    expect(report.full?.ok).toBe(true);
    expect(report.full?.totals).toMatchObject({
      source: s.report.totalCurrent,
      destination: s.report.totalCurrent,
      matching: s.report.totalCurrent,
      missing: 0,
      extra: 0,
      differing: 0,
    });
    console.log(
      `[e2e verify] full reconciliation of ${s.report.totalCurrent} resources (with surface and deep checks): ${seconds.toFixed(1)}s through the CLI`,
    );
    const status = await runCli(['status', '--state', s.state, '--json']);
    const summary = JSON.parse(status.stdout) as StatusJson & {
      lastVerification?: { kind: string; ok: boolean };
    };
    expect(summary.lastVerification).toMatchObject({ kind: 'full', ok: true });
  });

  it('compares two servers named on the command line, without a state file', async () => {
    const res = await runCli([
      'verify',
      '--source',
      sourceUrl,
      '--destination',
      destinationUrl,
      '--types',
      'Patient,Encounter',
      '--filter',
      filterOf(s),
      '--deep',
      '2',
    ]);
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
    expect(res.stdout).toMatch(/Patient\s+8\s+8\s+0/);
    expect(res.stdout).toContain('4 resources compared, 0 mismatches');
    expect(res.stdout).toContain('verification: CLEAN');
  });

  it('finds a resource hard-deleted on the source (extra), one altered and one removed on the destination; --fix and --delete-extra repair them', async () => {
    const observations = s.report.currentIds.Observation ?? [];
    const [goneOnSource, alteredRef, removedRef] = [observations[0], observations[1], observations[2]].map(
      (id) => `Observation/${id}`,
    );
    expect((await http('DELETE', `${sourceUrl}/${goneOnSource}`)).status).toBe(200);
    // Edited as text: a JSON.parse/stringify round trip would also change decimals (37.0 → 37).
    const original = (await http('GET', `${destinationUrl}/${alteredRef}`)).body;
    const altered = original.replace(/"status"\s*:\s*"[a-z-]+"/, '"status":"entered-in-error"');
    expect(altered).not.toBe(original);
    expect((await http('PUT', `${destinationUrl}/${alteredRef}`, altered)).status).toBe(200);
    expect((await http('DELETE', `${destinationUrl}/${removedRef}`)).status).toBe(200);

    const found = await verify('--deep', '1000', '--full');
    expect(found.code).toBe(1);
    expect(found.report.full?.extra).toEqual([goneOnSource]);
    expect(found.report.full?.missing).toEqual([removedRef]);
    expect(found.report.full?.differing).toEqual([{ ref: alteredRef, paths: ['status'] }]);
    expect(found.report.deep?.mismatches).toContainEqual(
      expect.objectContaining({
        type: 'Observation',
        id: alteredRef?.split('/')[1],
        kind: 'differs',
        paths: ['status'],
      }),
    );
    expect(found.report.deep?.mismatches).toContainEqual(
      expect.objectContaining({ type: 'Observation', id: removedRef?.split('/')[1], kind: 'missing' }),
    );

    const fixed = await verify('--full', '--fix');
    expect(fixed.report.full?.repair).toMatchObject({ restored: 1, updated: 1, deleted: 0, failures: [] });
    const afterFix = await verify('--full');
    expect(afterFix.report.full).toMatchObject({ missing: [], differing: [], extra: [goneOnSource] });
    expect((await http('GET', `${destinationUrl}/${removedRef}`)).status).toBe(200);

    const deleted = await verify('--full', '--fix', '--delete-extra');
    expect(deleted.report.full?.repair).toMatchObject({ deleted: 1, failures: [] });
    const clean = await verify('--full');
    expect(clean.code).toBe(0);
    expect(clean.report.full?.ok).toBe(true);
  });

  it('refuses contradictory flags with a clear message and changes nothing', async () => {
    const res = await runCli(['verify', '--state', s.state, '--fix']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('--fix needs --full');
  });

  it('status --watch redraws the summary until interrupted', async () => {
    const watch = startCli(['status', '--state', s.state, '--watch', '1']);
    let output = '';
    watch.child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    for (let i = 0; i < 60 && !output.includes("migration 'default'"); i++) await sleep(250);
    await sleep(2500);
    watch.child.kill('SIGINT');
    const res = await watch.done;
    expect(res.code).toBe(0);
    expect(res.stdout.match(/migration 'default'/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });
});

describe('cutover', () => {
  it('waits for a quiet source, drains, reconciles and says GO; a resource lost on the destination makes it NO-GO', async () => {
    const s = await seedScenario(sourceUrl, { patients: 5, waves: 2, waveGapMs: 500 });
    const args = [
      'cutover',
      ...migrationArgs(s, sourceUrl, destinationUrl),
      '--quiet-period',
      '3s',
      '--filter',
      filterOf(s),
      '--json',
    ];
    const started = startCli(args);
    // The applications are still writing when cutover starts: it must wait for them to stop.
    const late = 4;
    for (let i = 0; i < late; i++) {
      const id = `cutover-${s.seed}-${i}`;
      const patient = {
        resourceType: 'Patient',
        id,
        meta: { tag: [{ system: seedTagSystem, code: `seed-${s.seed}` }] },
        gender: 'unknown',
      };
      expect((await http('PUT', `${sourceUrl}/Patient/${id}`, JSON.stringify(patient))).status).toBeLessThan(
        300,
      );
      await sleep(1000);
    }
    const lastWrite = Date.now();
    const go = await started.done;
    expect(go.code, go.stderr.slice(-3000)).toBe(0);
    const report = JSON.parse(go.stdout);
    expect(report).toMatchObject({ go: true, reasons: [], failuresOutstanding: 0, deadLetters: 0 });
    const total = s.report.totalCurrent + late;
    expect(report.reconciliation.totals).toMatchObject({
      source: total,
      destination: total,
      matching: total,
      missing: 0,
    });
    expect(Date.parse(report.watermark)).toBeGreaterThan(lastWrite - 1000);
    expect(go.stderr).toContain('waiting for 3s without writes');
    console.log(`[e2e cutover] GO after ${go.seconds.toFixed(1)}s for ${s.report.totalCurrent} resources`);

    const lost = `Patient/${s.report.currentIds.Patient?.[0]}`;
    expect((await http('DELETE', `${destinationUrl}/${lost}`)).status).toBe(200);
    const noGo = await runCli(args);
    expect(noGo.code).toBe(1);
    const second = JSON.parse(noGo.stdout);
    expect(second.go).toBe(false);
    expect(second.reconciliation.missing).toEqual([lost]);
    expect(second.reasons.join(' ')).toContain('1 missing');
  });
});

describe('dead letters', () => {
  it('a dead-lettered step is listed, replayed once to completion, and replaying again or a stale duplicate changes nothing', async () => {
    const s = await seedScenario(sourceUrl, { patients: 4, waves: 1, waveGapMs: 0 });
    const marker = join(s.dir, 'dead-letter.marker');
    const run = startCli(['run', ...migrationArgs(s, sourceUrl, destinationUrl, ['--poll-interval', '3s'])], {
      FHIR_MIGRATE_TEST_DEAD_LETTER: 'importer:export-completed',
      FHIR_MIGRATE_TEST_MARKER: marker,
    });
    try {
      let listed: { id: string; topic: string; subscription: string; reason: string }[] = [];
      for (let i = 0; i < 120 && listed.length === 0; i++) {
        await sleep(500);
        if (!existsSync(s.state)) continue;
        const res = await runCli(['dlq', 'list', '--state', s.state, '--json']);
        if (res.code === 0) listed = JSON.parse(res.stdout);
      }
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ topic: 'export-completed', subscription: 'importer' });
      expect(listed[0]?.id).toBe(readFileSync(marker, 'utf8'));
      expect(listed[0]?.reason).toContain('injected test fault');

      const first = await runCli(['dlq', 'replay', '--state', s.state, '--all']);
      expect(first.stdout).toContain('1 replayed');
      const again = await runCli(['dlq', 'replay', '--state', s.state, '--id', listed[0]?.id ?? '']);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('not dead letters');

      // The replayed step completes: every chunk verified.
      let status: StatusJson | undefined;
      for (let i = 0; i < 240; i++) {
        await sleep(500);
        status = JSON.parse((await runCli(['status', '--state', s.state, '--json'])).stdout) as StatusJson;
        if (
          status.list.length > 0 &&
          status.list.every((c) => c.status === 'verified' || c.status === 'skipped')
        )
          break;
      }
      expect(status?.list.every((c) => c.status === 'verified' || c.status === 'skipped')).toBe(true);
      expect(status?.resources.imported).toBe(s.report.totalCurrent);

      // A stale duplicate of the replayed message (as a second replay by another operator would deliver)
      // is handled without effect: no new ledger events, no dead letter.
      const db = openSqliteDatabase(s.state);
      const ledger = createSqliteLedger(db);
      const bus = createSqliteBus(db);
      try {
        const chunk = status?.list.find((c) => c.status === 'verified')?.chunkId ?? '';
        const before = (await ledger.readStream('default', chunk)).length;
        await bus.publish('export-completed', [
          {
            id: `stale-duplicate-${Date.now()}`,
            body: { schemaVersion: 1, migrationId: 'default', chunkId: chunk },
          },
        ]);
        await sleep(3000);
        const chunkEvents = await ledger.readStream('default', chunk);
        expect(chunkEvents).toHaveLength(before);
        expect(chunkEvents.filter((e) => e.type === 'ImportStarted')).toHaveLength(1);
        expect(chunkEvents.filter((e) => e.type === 'ImportCompleted')).toHaveLength(1);
      } finally {
        await bus.close();
        db.close();
      }
      expect(JSON.parse((await runCli(['dlq', 'list', '--state', s.state, '--json'])).stdout)).toEqual([]);
    } finally {
      run.child.kill('SIGINT');
      await run.done;
    }
  });
});
