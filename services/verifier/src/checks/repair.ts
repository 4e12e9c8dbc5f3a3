/**
 * Repair after a full reconciliation (`verify --full --fix`): every missing or differing resource is read
 * from the source and written to the destination under its own id with `batch` Bundles of PUTs; with
 * `deleteExtra`, extras are deleted with DELETEs in the same way. The source's reply text goes into the
 * Bundle as it is (never parsed and re-serialised), so decimals keep every digit.
 *
 * Only the refs the report lists are repaired: a truncated report needs another reconciliation and repair.
 * Every ref ends up counted or in `failures` with a reason that names no resource content.
 */
import {
  type BatchEntry,
  createBatchSender,
} from '@fhir-migrate/shared/adapters/fhir-http/dialects/rest-batch.ts';
import { sanitizeReason } from '@fhir-migrate/shared/application/errors.ts';
import { mapLimit } from '@fhir-migrate/shared/runtime/map-limit.ts';
import { parseRef, type Ref } from './query.ts';
import type { ReconcileReport } from './reconcile.ts';
import { readResource } from './search.ts';
import type { CheckDeps } from './types.ts';

export interface RepairReport {
  /** missing resources copied */
  restored: number;
  /** differing resources overwritten */
  updated: number;
  /** extras deleted, only with deleteExtra */
  deleted: number;
  failures: { ref: string; reason: string }[];
  durationMs: number;
}

export interface RepairOptions {
  deleteExtra: boolean;
  /** Entries per Bundle. Default 100. */
  bundleSize?: number;
  /** Most Bundles in flight. Default 4. */
  concurrency?: number;
}

type Action = 'restore' | 'update' | 'delete';

interface Job {
  ref: string;
  target: Ref;
  action: Action;
}

const check = 'repair';
/** Source reads at once while a Bundle is being filled. */
const readConcurrency = 8;

export async function repair(
  deps: CheckDeps,
  report: Pick<ReconcileReport, 'missing' | 'differing' | 'extra'>,
  options: RepairOptions,
): Promise<RepairReport> {
  const started = Date.now();
  const bundleSize = Math.max(1, Math.floor(options.bundleSize ?? 100));
  const sender = createBatchSender(deps.destination, { concurrency: options.concurrency ?? 4 });
  const result: RepairReport = { restored: 0, updated: 0, deleted: 0, failures: [], durationMs: 0 };
  const fail = (ref: string, reason: string) =>
    result.failures.push({ ref, reason: sanitizeReason(reason, 500) });

  const seen = new Set<string>();
  const jobs: Job[] = [];
  const add = (ref: string, action: Action) => {
    if (seen.has(ref)) return;
    seen.add(ref);
    const target = parseRef(ref);
    if (target) jobs.push({ ref, target, action });
    else fail(ref.slice(0, 140), 'not a valid Type/id reference');
  };
  for (const ref of report.missing) add(ref, 'restore');
  for (const { ref } of report.differing) add(ref, 'update');
  if (options.deleteExtra) for (const ref of report.extra) add(ref, 'delete');

  const settle = (job: Job, status: number | undefined, reason: string | undefined) => {
    const ok = reason === undefined && status !== undefined && status >= 200 && status < 300;
    // Deleting what is already gone leaves the destination as wanted.
    if (ok || (job.action === 'delete' && (status === 404 || status === 410))) {
      if (job.action === 'restore') result.restored++;
      else if (job.action === 'update') result.updated++;
      else result.deleted++;
    } else fail(job.ref, reason ?? (status !== undefined ? `HTTP ${status}` : 'no outcome'));
  };

  const pending = new Set<Promise<void>>();
  const launch = (batch: { job: Job; json: string }[]) => {
    const open = new Set(batch.map((b) => b.job));
    const entries: BatchEntry[] = batch.map(({ job, json }) => ({
      json,
      settle({ status, reason }) {
        if (!open.delete(job)) return;
        settle(job, status, reason);
      },
    }));
    const p: Promise<void> = sender
      .send(entries)
      // A failure of the whole Bundle (auth, server trouble left after retries) fails what it still held.
      .catch((error: unknown) => {
        const reason = `the destination refused the batch: ${error instanceof Error ? error.message : String(error)}`;
        for (const job of open) fail(job.ref, reason);
        open.clear();
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  };

  for (let i = 0; i < jobs.length; i += bundleSize) {
    const group = jobs.slice(i, i + bundleSize);
    const built = await mapLimit(group, readConcurrency, (job) => entryFor(deps, job));
    const batch: { job: Job; json: string }[] = [];
    for (const [k, entry] of built.entries()) {
      const job = group[k];
      if (!job) continue;
      if ('json' in entry) batch.push({ job, json: entry.json });
      else fail(job.ref, entry.failure);
    }
    if (batch.length > 0) launch(batch);
    while (pending.size >= sender.limit) await Promise.race(pending);
  }
  await Promise.all(pending);

  result.durationMs = Date.now() - started;
  deps.log?.info(
    {
      restored: result.restored,
      updated: result.updated,
      deleted: result.deleted,
      failures: result.failures.length,
      durationMs: result.durationMs,
    },
    'repair done',
  );
  return result;
}

/** The Bundle entry for one job: a PUT of the source's exact text, or a DELETE. */
async function entryFor(deps: CheckDeps, job: Job): Promise<{ json: string } | { failure: string }> {
  const url = `${job.target.type}/${job.target.id}`;
  if (job.action === 'delete') return { json: `{"request":{"method":"DELETE","url":"${url}"}}` };
  try {
    const read = await readResource(deps.source, 'source', check, job.target);
    if (read.status !== 200) return { failure: `gone on the source (HTTP ${read.status})` };
    return { json: `{"resource":${read.text},"request":{"method":"PUT","url":"${url}"}}` };
  } catch (error) {
    return { failure: error instanceof Error ? error.message : String(error) };
  }
}
