/**
 * What every fault scenario shares: seed the source directly, run the real CLI through the faulty path,
 * then measure against the servers themselves (never through the faults): a full reconciliation of the
 * seeded resources, and a count of copies and versions on the destination that should not be there.
 * Each scenario records one row of the reliability report (`.test-results/faults.ndjson`).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Proxy as ToxiProxy, Toxiproxy } from 'toxiproxy-node-client';
import { afterEach, beforeEach, inject } from 'vitest';
import { seededTypes, seedTag } from '../data/generator.ts';
import { migrationArgs, type Scenario, type StatusJson, seedScenario } from '../e2e/scenario.ts';
import { type CliResult, runCli } from '../harness/fhir-migrate.ts';
import { repoRoot } from '../harness/paths.ts';
import { reconcile } from '../harness/reconcile.ts';
import { type Shim, startShim } from './shim.ts';

type SeedTag = ReturnType<typeof seedTag>;

export const reportFile = join(repoRoot, '.test-results', 'faults.ndjson');

export interface FaultRow {
  fault: string;
  /** How many times the fault was injected (requests answered, connections cut, crashes). */
  injected: number;
  /**
   * clean: everything migrated, exit 0; reported: everything migrated but the bad input, which the ledger
   * and status name (exit 1); halted: the migration stopped with a reason (exit 2); refused: stopped before
   * starting, with a reason; failed: anything else (a defect).
   */
  outcome: 'clean' | 'reported' | 'halted' | 'refused' | 'failed';
  /** What the tool did about the fault, or why it failed. */
  detail: string;
  lost: number;
  duplicated: number;
  seconds: number;
}

export function recordRow(row: FaultRow): void {
  mkdirSync(join(repoRoot, '.test-results'), { recursive: true });
  appendFileSync(reportFile, `${JSON.stringify(row)}\n`);
}

export interface Damage {
  /** Seeded resources missing or different on the destination, and deletions not carried over. */
  lost: string[];
  /** Resources on the destination the source does not hold, and versions written more than once. */
  duplicated: string[];
  checked: number;
}

interface Copy {
  ref: string;
  version: number;
}

/** Every resource carrying the seed's tag on one server, with its version, paged by the server. */
async function taggedCopies(baseUrl: string, tag: SeedTag, types: readonly string[]): Promise<Copy[]> {
  const copies: Copy[] = [];
  for (const type of types) {
    let url: string | undefined =
      `${baseUrl}/${type}?_tag=${encodeURIComponent(`${tag.system}|${tag.code}`)}&_count=500&_elements=id`;
    while (url) {
      const res = await fetch(url, {
        headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
      });
      if (res.status !== 200) throw new Error(`search ${url} answered ${res.status}`);
      const bundle = (await res.json()) as {
        entry?: { resource?: { resourceType: string; id: string; meta?: { versionId?: string } } }[];
        link?: { relation: string; url: string }[];
      };
      for (const e of bundle.entry ?? [])
        if (e.resource)
          copies.push({
            ref: `${e.resource.resourceType}/${e.resource.id}`,
            version: Number(e.resource.meta?.versionId ?? '1'),
          });
      url = bundle.link?.find((l) => l.relation === 'next')?.url;
    }
  }
  return copies;
}

/**
 * Lost and duplicated, measured on the servers: every seeded resource read from both and compared; every
 * tagged copy on the destination matched to one on the source. A destination version above the source's
 * means a window was applied twice with a change (an unchanged re-apply is a no-op in HAPI and harmless).
 */
export async function measureDamage(sourceUrl: string, destinationUrl: string, s: Scenario): Promise<Damage> {
  const result = await reconcile(sourceUrl, destinationUrl, s.report.currentIds, s.report.deletedIds);
  const lost = [...result.missing, ...result.differing.map((d) => d.ref), ...result.extra];
  const tag = seedTag(s.seed);
  const [src, dst] = await Promise.all([
    taggedCopies(sourceUrl, tag, seededTypes),
    taggedCopies(destinationUrl, tag, seededTypes),
  ]);
  const sourceVersion = new Map(src.map((c) => [c.ref, c.version]));
  const duplicated: string[] = [];
  for (const copy of dst) {
    const version = sourceVersion.get(copy.ref);
    if (version === undefined) {
      if (!result.extra.includes(copy.ref)) duplicated.push(`${copy.ref} (not on the source)`);
    } else if (copy.version > version) duplicated.push(`${copy.ref} (version ${copy.version} > ${version})`);
  }
  return { lost, duplicated, checked: result.checked };
}

/** Pino JSON lines on a CLI's stderr whose message matches. */
export function logLines(stderr: string, msg: RegExp): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (typeof entry.msg === 'string' && msg.test(entry.msg)) out.push(entry);
    } catch {
      // not a log line
    }
  }
  return out;
}

/** One server's faulty path: CLI → Toxiproxy (TCP faults) → shim (HTTP faults) → HAPI. */
export interface FaultyPath {
  /** The FHIR base URL the CLI is given. */
  url: string;
  shim: Shim;
  proxy: ToxiProxy;
}

let proxyCounter = 0;

export async function faultyPath(
  toxiproxy: Toxiproxy,
  upstreamBase: string,
  label: string,
): Promise<FaultyPath> {
  const shim = await startShim(upstreamBase);
  const proxy = await toxiproxy.createProxy({
    name: `${label}-${process.pid}-${++proxyCounter}`,
    listen: '127.0.0.1:0',
    upstream: `127.0.0.1:${shim.port}`,
  });
  return { url: `http://${proxy.listen}${new URL(upstreamBase).pathname.replace(/\/+$/, '')}`, shim, proxy };
}

export async function closePath(path: FaultyPath): Promise<void> {
  await path.proxy.remove();
  await path.shim.close();
}

/** Requests the shim saw that match. */
export function countSeen(path: FaultyPath, method: string, pathPattern: RegExp): number {
  return path.shim.seen.filter((r) => r.method === method && pathPattern.test(r.path)).length;
}

export interface FaultOutcome {
  run: CliResult;
  damage: Damage;
  scenario: Scenario;
  injected: number;
  /** Retries the CLI logged (HTTP requests and export file downloads). */
  retries: number;
  status?: Awaited<ReturnType<typeof statusOf>>;
}

/**
 * One fault scenario end to end: seed the source directly, set the fault up, run `fhir-migrate run
 * --until-caught-up` through the faulty paths, measure on the servers, record the report row. The caller
 * asserts (after the row is written, so a failing scenario still shows in the report).
 */
export async function runFault(options: {
  fault: string;
  sourceUrl: string;
  destinationUrl: string;
  paths: { source: FaultyPath; destination: FaultyPath };
  patients?: number;
  args?: string[];
  env?: Record<string, string>;
  /** Sets the fault up; the returned function says how many times it was injected. */
  inject: (s: Scenario) => Promise<() => number>;
  /** What the tool did about it, for the report. */
  detail?: (o: Omit<FaultOutcome, 'damage'>) => string;
}): Promise<FaultOutcome> {
  const started = Date.now();
  const s = await seedScenario(options.sourceUrl, {
    patients: options.patients ?? 6,
    waves: 1,
    waveGapMs: 0,
  });
  const injected = await options.inject(s);
  const run = await runCli(
    [
      'run',
      '--until-caught-up',
      ...migrationArgs(s, options.paths.source.url, options.paths.destination.url, [
        '--chunk-duration',
        '1h',
        '--deep-check-count',
        '5',
        ...(options.args ?? []),
      ]),
    ],
    options.env ?? {},
  );
  const retries = logLines(run.stderr, /retrying|downloading it again/).length;
  const partial = { run, scenario: s, injected: injected(), retries };
  const damage = await measureDamage(options.sourceUrl, options.destinationUrl, s);
  const status = await statusOf(s.state).catch(() => undefined);
  const halted = status?.halted ?? [];
  const clean = run.code === 0 && damage.lost.length === 0 && damage.duplicated.length === 0;
  // Exit 1: caught up, with the resources that could not be carried named in the ledger (file and line).
  const reported =
    run.code === 1 &&
    damage.lost.length === 0 &&
    damage.duplicated.length === 0 &&
    (status?.failures.length ?? 0) > 0;
  // A run that stopped with a reason has lost only what its ledger counts as imported but is not there.
  const present = damage.checked - damage.lost.length;
  const lost =
    halted.length > 0 ? Math.max(0, (status?.resources.imported ?? 0) - present) : damage.lost.length;
  recordRow({
    fault: options.fault,
    injected: partial.injected,
    outcome: clean ? 'clean' : reported ? 'reported' : halted.length > 0 ? 'halted' : 'failed',
    detail: clean
      ? (options.detail?.(partial) ??
        `${retries} retries logged; ${damage.checked} resources reconciled; exit 0 in ${run.seconds.toFixed(0)} s`)
      : reported
        ? `exit 1 naming ${status?.failures.length} resource(s): ${status?.failures
            .map((f) => `${f.file}:${f.line} ${f.reason}`)
            .join('; ')
            .slice(0, 240)}; all ${damage.checked} seeded resources reconciled clean`
        : halted.length > 0
          ? `exit ${run.code}, halted with the reason "${halted[0]?.reason}"; ${status?.resources.imported ?? 0} of ${s.report.totalCurrent} counted as imported, ${present} on the destination`
          : `exit ${run.code}: ${lastLines(run.stderr)}`,
    lost,
    duplicated: damage.duplicated.length,
    seconds: (Date.now() - started) / 1000,
  });
  return { ...partial, damage, ...(status ? { status } : {}) };
}

function lastLines(stderr: string): string {
  return stderr.trim().split('\n').slice(-2).join(' / ').slice(0, 300);
}

/** `fhir-migrate status --json` of a state file. */
export async function statusOf(state: string): Promise<StatusJson & { failures: Record<string, unknown>[] }> {
  const res = await runCli(['status', '--state', state, '--json']);
  if (!res.stdout.trim()) throw new Error(`status failed: ${res.stderr}`);
  return JSON.parse(res.stdout) as StatusJson & { failures: Record<string, unknown>[] };
}

/**
 * For a describe block: a fresh faulty path to each server before every test (rules and toxics never leak
 * into the next test), closed after it. Read `paths.source` / `paths.destination` inside tests.
 */
export function useFaultyPaths() {
  const { sourceUrl, destinationUrl } = inject('fhirServers');
  const toxiproxy = new Toxiproxy(inject('toxiproxyApi'));
  let current: { source: FaultyPath; destination: FaultyPath } | undefined;
  beforeEach(async () => {
    current = {
      source: await faultyPath(toxiproxy, sourceUrl, 'source'),
      destination: await faultyPath(toxiproxy, destinationUrl, 'destination'),
    };
  });
  afterEach(async () => {
    if (current) for (const path of [current.source, current.destination]) await closePath(path);
    current = undefined;
  });
  const paths = {
    get source(): FaultyPath {
      if (!current) throw new Error('faulty paths exist only inside a test');
      return current.source;
    },
    get destination(): FaultyPath {
      if (!current) throw new Error('faulty paths exist only inside a test');
      return current.destination;
    },
  };
  /** What runFault needs besides the fault itself. */
  const common = () => ({
    sourceUrl,
    destinationUrl,
    paths: { source: paths.source, destination: paths.destination },
  });
  return { sourceUrl, destinationUrl, paths, common };
}
