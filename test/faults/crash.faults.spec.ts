/**
 * Crash and restart: the process is killed with SIGKILL at a named point (FHIR_MIGRATE_TEST_CRASH_AT, a
 * deterministic hook, no sleeps), then started again; the migration must finish with a clean
 * reconciliation. The shims in front of both servers count the $export kick-offs and $import submits, so
 * a window exported or imported twice shows, and the destination's versions show whether a second
 * import changed anything (HAPI stores an unchanged resource as a no-op).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { type CrashPoint, crashPoints } from '../../shared/src/runtime/crash-point.ts';
import { migrationArgs, type StatusJson, seedScenario } from '../e2e/scenario.ts';
import { runCli } from '../harness/fhir-migrate.ts';
import { repoRoot } from '../harness/paths.ts';
import {
  countSeen,
  type FaultyPath,
  measureDamage,
  recordRow,
  statusOf,
  useFaultyPaths,
} from './fault-run.ts';

const { sourceUrl, destinationUrl } = inject('fhirServers');
const crashVariable = 'FHIR_MIGRATE_TEST_CRASH_AT';

const kickOffs = (p: FaultyPath) => countSeen(p, 'GET', /\/(\$|%24)export\?/);
const importSubmits = (p: FaultyPath) => countSeen(p, 'POST', /\/(\$|%24)import$/);

const chunksWithData = (s: StatusJson) => s.list.filter((c) => c.status !== 'skipped').length;

describe('kill -9 and restart', () => {
  const { paths } = useFaultyPaths();

  it.each(crashPoints)(
    'one process: fhir-migrate run killed at %s, then restarted, finishes clean',
    async (point) => {
      const started = Date.now();
      const s = await seedScenario(sourceUrl, { patients: 6, waves: 1, waveGapMs: 0 });
      const args = [
        'run',
        '--until-caught-up',
        ...migrationArgs(s, paths.source.url, paths.destination.url, [
          '--chunk-duration',
          '1h',
          '--deep-check-count',
          '5',
        ]),
      ];
      const crashed = await runCli(args, { [crashVariable]: point });
      const beforeRestart = await measureDamage(sourceUrl, destinationUrl, s);
      const resumed = await runCli(args);
      const damage = await measureDamage(sourceUrl, destinationUrl, s);
      const status = await statusOf(s.state);
      const chunks = chunksWithData(status);
      const clean =
        resumed.code === 0 &&
        damage.lost.length === 0 &&
        damage.duplicated.length === 0 &&
        crashed.code === null;
      recordRow({
        fault: `kill -9 at ${point} (run)`,
        injected: crashed.stderr.includes(`at ${point}`) ? 1 : 0,
        outcome: clean ? 'clean' : 'failed',
        detail: clean
          ? `${beforeRestart.lost.length} of ${s.report.totalCurrent} missing before the restart; after it ${kickOffs(paths.source)} $export kick-offs and ${importSubmits(paths.destination)} $import submits for ${chunks} chunk(s); exit 0`
          : `crashed run exit ${crashed.code}, restart exit ${resumed.code}: ${resumed.stderr.trim().split('\n').slice(-2).join(' / ').slice(0, 300)}`,
        lost: damage.lost.length,
        duplicated: damage.duplicated.length,
        seconds: (Date.now() - started) / 1000,
      });
      // The crash happened where it was asked for, by SIGKILL (no exit code).
      expect(crashed.stderr).toContain(`${crashVariable}: killing process`);
      expect(crashed.stderr).toContain(`at ${point}`);
      expect(crashed.code).toBeNull();
      expect(resumed.code, resumed.stderr.slice(-2000)).toBe(0);
      expect(damage).toMatchObject({ lost: [], duplicated: [] });
      expect(status.halted).toEqual([]);
      expect(status.list.every((c) => c.status === 'verified' || c.status === 'skipped')).toBe(true);
      if (point !== 'verification' && point !== 'import-poll')
        // Before the import was under way, the destination lacked the data: the measure can fail.
        expect(beforeRestart.lost.length).toBeGreaterThan(0);
      // One kick-off per chunk, plus one where the crash came between the kick-off and its record.
      expect(kickOffs(paths.source)).toBe(chunks + (point === 'after-export-kickoff' ? 1 : 0));
      expect(importSubmits(paths.destination)).toBe(chunks + (point === 'after-import-submit' ? 1 : 0));
    },
  );

  /** Which service process reaches each crash point. */
  const owner: Record<CrashPoint, string> = {
    'after-plan': 'planner',
    'after-export-kickoff': 'exporter',
    'export-poll': 'exporter',
    'mid-staging': 'exporter',
    'after-import-submit': 'importer',
    'import-poll': 'importer',
    verification: 'verifier',
  };

  /**
   * The pipeline as four `fhir-migrate service` processes on one state file; each one named in `plan` is
   * started with its crash point, and every process that dies is started again (without one). Ends when the
   * migration has caught up past the seeded data, then stops them all.
   */
  async function crashServices(fault: string, plan: Record<string, CrashPoint>) {
    const started = Date.now();
    const s = await seedScenario(sourceUrl, { patients: 6, waves: 1, waveGapMs: 0 });
    const base = migrationArgs(s, paths.source.url, paths.destination.url, [
      '--chunk-duration',
      '1h',
      '--deep-check-count',
      '5',
      '--poll-interval',
      '2s',
    ]);
    const children = new Map<string, ChildProcess>();
    const crashes: string[] = [];
    let otherExits = 0;
    let stopping = false;
    const bin = join(repoRoot, 'cli', 'bin', 'fhir-migrate.js');
    const startService = (name: string, crashAt?: CrashPoint) => {
      const child = spawn(process.execPath, [bin, 'service', name, ...base], {
        cwd: repoRoot,
        env: {
          ...process.env,
          FHIR_MIGRATE_LOG_LEVEL: 'warn',
          ...(crashAt ? { [crashVariable]: crashAt } : {}),
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.on('exit', (_code, signal) => {
        if (stopping) return;
        if (signal === 'SIGKILL' && stderr.includes(`${crashVariable}: killing process`))
          crashes.push(`${name} at ${crashAt}`);
        else otherExits++;
        children.set(name, startService(name));
      });
      return child;
    };
    try {
      for (const name of ['planner', 'exporter', 'importer', 'verifier'])
        children.set(name, startService(name, plan[name]));
      const deadline = Date.now() + 240_000;
      for (;;) {
        await sleep(1000);
        const status = await statusOf(s.state).catch(() => undefined);
        const settled =
          status?.watermark !== undefined &&
          Date.parse(status.watermark) > Date.parse(s.report.lastLastUpdated) &&
          chunksWithData(status) > 0 &&
          status.list.every((c) => c.status === 'verified' || c.status === 'skipped');
        if (settled || Date.now() > deadline) break;
      }
    } finally {
      stopping = true;
      const exits = [...children.values()].map((c) =>
        c.exitCode === null && c.signalCode === null
          ? new Promise((r) => c.once('exit', r))
          : Promise.resolve(),
      );
      for (const c of children.values()) c.kill('SIGTERM');
      await Promise.race([Promise.all(exits), sleep(15_000)]);
      for (const c of children.values()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    const damage = await measureDamage(sourceUrl, destinationUrl, s);
    const status = await statusOf(s.state);
    const chunks = chunksWithData(status);
    const expected = Object.entries(plan).map(([name, point]) => `${name} at ${point}`);
    const clean =
      crashes.length === expected.length &&
      otherExits === 0 &&
      damage.lost.length === 0 &&
      damage.duplicated.length === 0;
    recordRow({
      fault,
      injected: crashes.length,
      outcome: clean ? 'clean' : 'failed',
      detail: `${crashes.join(', ')} (restarted); ${kickOffs(paths.source)} $export kick-offs and ${importSubmits(paths.destination)} $import submits for ${chunks} chunk(s)${otherExits ? `; ${otherExits} other exits` : ''}`,
      lost: damage.lost.length,
      duplicated: damage.duplicated.length,
      seconds: (Date.now() - started) / 1000,
    });
    expect(crashes.sort()).toEqual(expected.sort());
    expect(otherExits).toBe(0);
    expect(damage).toMatchObject({ lost: [], duplicated: [] });
    expect(status.halted).toEqual([]);
    expect(status.list.every((c) => c.status === 'verified' || c.status === 'skipped')).toBe(true);
    return { chunks };
  }

  it.each(crashPoints)(
    'service processes: killed at %s (in the service that gets there), restarted, finishes clean',
    async (point) => {
      const { chunks } = await crashServices(`kill -9 at ${point} (${owner[point]} service)`, {
        [owner[point]]: point,
      });
      expect(kickOffs(paths.source)).toBe(chunks + (point === 'after-export-kickoff' ? 1 : 0));
      expect(importSubmits(paths.destination)).toBe(chunks + (point === 'after-import-submit' ? 1 : 0));
    },
  );

  it('service processes: all four killed, each at its own point, restarted, finish clean', async () => {
    const { chunks } = await crashServices('kill -9 of each service process in turn (4 processes)', {
      planner: 'after-plan',
      exporter: 'mid-staging',
      importer: 'after-import-submit',
      verifier: 'verification',
    });
    expect(importSubmits(paths.destination)).toBe(chunks + 1);
  });

  it('one migration over several chunks, killed at every crash point in turn (seven kills), finishes clean', async () => {
    const started = Date.now();
    // Three waves 3 s apart in 1 s windows: several chunks, with exports running ahead of imports.
    const s = await seedScenario(sourceUrl, { patients: 9, waves: 3, waveGapMs: 3000, bundleSize: 25 });
    const args = [
      'run',
      '--until-caught-up',
      ...migrationArgs(s, paths.source.url, paths.destination.url, [
        '--chunk-duration',
        '1s',
        '--deep-check-count',
        '3',
        '--export-ahead',
        '2',
      ]),
    ];
    const kills: string[] = [];
    for (const point of crashPoints) {
      const run = await runCli(args, { [crashVariable]: point });
      if (run.code === null && run.stderr.includes(`at ${point}`)) kills.push(point);
      else if (run.code !== 0)
        throw new Error(`run to ${point} ended with ${run.code}: ${run.stderr.slice(-1500)}`);
    }
    const last = await runCli(args);
    const damage = await measureDamage(sourceUrl, destinationUrl, s);
    const status = await statusOf(s.state);
    const chunks = chunksWithData(status);
    const clean = last.code === 0 && damage.lost.length === 0 && damage.duplicated.length === 0;
    recordRow({
      fault: 'kill -9 at every crash point in turn, one migration of several chunks',
      injected: kills.length,
      outcome: clean ? 'clean' : 'failed',
      detail: `${kills.length} kills (${kills.join(', ')}) and restarts over ${chunks} chunks, ${s.report.totalCurrent} resources with updates and deletes; ${kickOffs(paths.source)} $export kick-offs, ${importSubmits(paths.destination)} $import submits; last run exit ${last.code}`,
      lost: damage.lost.length,
      duplicated: damage.duplicated.length,
      seconds: (Date.now() - started) / 1000,
    });
    // A point the migration had passed for good before its turn (none, with three waves) is not a kill.
    expect(kills).toEqual([...crashPoints]);
    expect(last.code, last.stderr.slice(-2000)).toBe(0);
    expect(damage).toMatchObject({ lost: [], duplicated: [] });
    expect(status.halted).toEqual([]);
    expect(chunks).toBeGreaterThanOrEqual(3);
    expect(status.list.every((c) => c.status === 'verified' || c.status === 'skipped')).toBe(true);
  });
});
