/**
 * `fhir-migrate cutover`: the last step of a migration, once applications stop writing to the source.
 * 1. wait until the source has had no writes for the quiet period (at least the safety lag, so the planner
 *    may plan past the last write); 2. drain: run the pipeline until every window is imported and verified;
 * 3. reconcile both servers in full; 4. print a go/no-go report. Exit 0 = go, 1 = no-go.
 */
import type { FhirClient } from '@fhir-migrate/shared/adapters/fhir-http/client.ts';
import { loadMigrationEvents } from '@fhir-migrate/shared/application/chunk-store.ts';
import { controlStateOf } from '@fhir-migrate/shared/application/control.ts';
import { listAllDeadLetters } from '@fhir-migrate/shared/application/dead-letters.ts';
import { reasonOf } from '@fhir-migrate/shared/application/errors.ts';
import { type MigrationSummary, summarize } from '@fhir-migrate/shared/application/summary.ts';
import type { MigrationConfig } from '@fhir-migrate/shared/config/schema.ts';
import { parseDuration } from '@fhir-migrate/shared/domain/duration.ts';
import { normalizeFilter, withQuery } from '@fhir-migrate/verifier/src/checks/query.ts';
import type { ReconcileReport } from '@fhir-migrate/verifier/src/checks/reconcile.ts';
import { lastUpdatedOf, searchPages } from '@fhir-migrate/verifier/src/checks/search.ts';
import { typesOnSource } from '@fhir-migrate/verifier/src/checks/surface.ts';
import type { Logger } from 'pino';
import { fhirClientFor } from './compose.ts';
import { runPipeline } from './run.ts';
import { duration } from './status.ts';
import { openStores } from './stores.ts';
import { progressPrinter, runVerifyRequests, workDirFor } from './verify.ts';

export interface CutoverOptions {
  quietPeriod?: string;
  maxWait: string;
  json: boolean;
  /** Search parameters scoping the quiet check and the reconciliation (e.g. `_tag=system|code`). */
  filter?: string;
  /** Test seam: how to wait between quiet checks. */
  sleep?: (ms: number) => Promise<void>;
}

export interface CutoverReport {
  go: boolean;
  reasons: string[];
  migrationId: string;
  lastSourceWrite?: string;
  waitedSeconds: number;
  drain?: { exitCode: number; reason: string };
  watermark?: string;
  lagSeconds?: number;
  resources?: MigrationSummary['resources'];
  failuresOutstanding: number;
  deadLetters: number;
  reconciliation?: Pick<ReconcileReport, 'totals' | 'ok' | 'durationMs' | 'missing' | 'extra' | 'differing'>;
}

/** The newest meta.lastUpdated on the source over `types` (undefined when they are all empty). */
export async function latestWrite(
  source: FhirClient,
  types: readonly string[],
  filter?: string,
): Promise<number | undefined> {
  let latest: number | undefined;
  for (const type of types) {
    const path = withQuery(
      type,
      '_sort=-_lastUpdated',
      '_count=1',
      '_elements=meta',
      normalizeFilter(filter),
    );
    // The first page is enough: its first resource is the newest.
    for await (const page of searchPages(source, 'source', 'cutover quiet check', type, path)) {
      const newest = page.resources[0];
      const stamp = newest ? Date.parse(lastUpdatedOf(newest) ?? '') : Number.NaN;
      if (!Number.isNaN(stamp) && (latest === undefined || stamp > latest)) latest = stamp;
      break;
    }
  }
  return latest;
}

export async function cutoverCommand(
  config: MigrationConfig,
  log: Logger,
  options: CutoverOptions,
): Promise<number> {
  const report = await cutover(config, log, options);
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderCutover(report)}\n`);
  return report.go ? 0 : 1;
}

export async function cutover(
  config: MigrationConfig,
  log: Logger,
  options: CutoverOptions,
): Promise<CutoverReport> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const quiet = Math.max(
    options.quietPeriod ? parseDuration(options.quietPeriod) : config.cutoverQuietPeriod,
    config.safetyLag,
  );
  const maxWait = parseDuration(options.maxWait);
  const report: CutoverReport = {
    go: false,
    reasons: [],
    migrationId: config.migrationId,
    waitedSeconds: 0,
    failuresOutstanding: 0,
    deadLetters: 0,
  };
  const state = await readState(config, log);
  if (state.control !== 'running') {
    report.reasons.push(
      `the migration is ${state.control}: ${state.control === 'paused' ? 'resume it' : 'start a new migration'} before cutover`,
    );
    return report;
  }
  const source = fhirClientFor(config, 'source', log, 'fhir-migrate cutover');
  const destination = fhirClientFor(config, 'destination', log, 'fhir-migrate cutover');
  try {
    // 1. quiet source
    const types =
      config.resourceTypes.length > 0
        ? config.resourceTypes
        : await typesOnSource({ source, destination, workDir: workDirFor(config.state) }, options.filter);
    const started = Date.now();
    for (;;) {
      const latest = await latestWrite(source, types, options.filter);
      if (latest !== undefined) report.lastSourceWrite = new Date(latest).toISOString();
      const quietFor = latest === undefined ? Number.POSITIVE_INFINITY : Date.now() - latest;
      report.waitedSeconds = (Date.now() - started) / 1000;
      if (quietFor >= quiet) break;
      if (Date.now() - started > maxWait) {
        report.reasons.push(
          `the source was still being written to after ${duration(maxWait / 1000)} (last write ${report.lastSourceWrite}); stop the writers, then run cutover again`,
        );
        return report;
      }
      process.stderr.write(
        `[cutover] source last written ${report.lastSourceWrite} — waiting for ${duration(quiet / 1000)} without writes (${duration(quietFor / 1000)} so far)\n`,
      );
      await sleep(Math.min(quiet - quietFor + 50, 10_000));
    }
    process.stderr.write(
      `[cutover] source quiet since ${report.lastSourceWrite ?? '(empty)'}: draining the last chunks\n`,
    );
    // 2. drain
    const drain = await runPipeline(config, log, {
      services: ['planner', 'exporter', 'importer', 'verifier'],
      untilCaughtUp: true,
      api: true,
    });
    report.drain = { exitCode: drain.exitCode, reason: drain.reason };
    if (drain.exitCode !== 0) report.reasons.push(`draining did not finish cleanly: ${drain.reason}`);
    // 3. full reconciliation, recorded in the ledger
    process.stderr.write('[cutover] reconciling both servers in full\n');
    const after = await readState(config, log);
    report.watermark = after.summary.watermark;
    report.lagSeconds = after.summary.lagSeconds;
    report.resources = after.summary.resources;
    report.failuresOutstanding = after.summary.failuresTotal;
    report.deadLetters = after.deadLetters;
    if (report.failuresOutstanding > 0)
      report.reasons.push(
        `${report.failuresOutstanding} resources could not be migrated (fhir-migrate status, or the API's /failures)`,
      );
    if (report.deadLetters > 0)
      report.reasons.push(`${report.deadLetters} dead-lettered messages (fhir-migrate dlq list)`);
    const stores = await openStores(config, log);
    try {
      const [outcome] = await runVerifyRequests(
        {
          source,
          destination,
          ledger: stores.ledger,
          migrationId: config.migrationId,
          defaults: {
            resourceTypes: types,
            surfaceCheckResources: config.surfaceCheckResources,
            deepCheckCount: config.deepCheckCount,
            ...(after.summary.watermark ? { asOf: after.summary.watermark } : {}),
          },
          workDir: workDirFor(config.state),
        },
        [{ kind: 'full', ...(options.filter ? { filter: options.filter } : {}) }],
        'cutover',
        progressPrinter(),
      );
      const full = outcome?.full;
      if (full) {
        const { totals, ok, durationMs, missing, extra, differing } = full;
        report.reconciliation = {
          totals,
          ok,
          durationMs,
          missing: missing.slice(0, 20),
          extra: extra.slice(0, 20),
          differing: differing.slice(0, 20),
        };
        if (!ok)
          report.reasons.push(
            `reconciliation: ${totals.missing} missing, ${totals.extra} extra, ${totals.differing} differing`,
          );
        if (totals.pending > 0)
          report.reasons.push(
            `${totals.pending} source resources changed after the watermark (writes continued?)`,
          );
      }
    } catch (err) {
      report.reasons.push(`the full reconciliation could not run: ${reasonOf(err)}`);
    } finally {
      await stores.close();
    }
    report.go = report.reasons.length === 0;
    return report;
  } finally {
    await source.close();
    await destination.close();
  }
}

async function readState(config: MigrationConfig, log: Logger) {
  const { ledger, bus, close } = await openStores(config, log);
  try {
    const control = controlStateOf(await loadMigrationEvents(ledger, config.migrationId));
    const summary = await summarize(ledger, config.migrationId, new Date());
    const deadLetters = (await listAllDeadLetters(bus, config.migrationId)).length;
    return { control, summary, deadLetters };
  } finally {
    await close();
  }
}

export function renderCutover(r: CutoverReport): string {
  const lines = [`cutover report — migration '${r.migrationId}'`];
  lines.push(
    `  last write on the source   ${r.lastSourceWrite ?? '(none)'} (waited ${duration(r.waitedSeconds)} for quiet)`,
  );
  if (r.drain) lines.push(`  drain                      ${r.drain.reason}`);
  if (r.watermark)
    lines.push(`  migrated up to             ${r.watermark} (lag ${duration(r.lagSeconds ?? 0)})`);
  if (r.resources)
    lines.push(
      `  resources                  exported ${r.resources.exported}, imported ${r.resources.imported}, failed ${r.resources.failed + r.resources.rejected}, deletes ${r.resources.deletes}`,
    );
  lines.push(`  failures outstanding       ${r.failuresOutstanding}`);
  lines.push(`  dead letters               ${r.deadLetters}`);
  if (r.reconciliation) {
    const t = r.reconciliation.totals;
    lines.push(
      `  reconciliation             source ${t.source}, destination ${t.destination}, matching ${t.matching}, missing ${t.missing}, extra ${t.extra}, differing ${t.differing}, pending ${t.pending} (${(r.reconciliation.durationMs / 1000).toFixed(1)}s)`,
    );
    for (const m of r.reconciliation.missing) lines.push(`    missing   ${m}`);
    for (const e of r.reconciliation.extra) lines.push(`    extra     ${e}`);
    for (const d of r.reconciliation.differing) lines.push(`    differs   ${d.ref} at ${d.paths.join(', ')}`);
  }
  lines.push(r.go ? 'GO: the destination holds what the source holds' : 'NO-GO:');
  for (const reason of r.reasons) lines.push(`  - ${reason}`);
  return lines.join('\n');
}
