/**
 * Full reconciliation: every resource in scope on both servers, compared by content hash. Each type is
 * streamed from both servers at once (paged search, following `next`), each resource reduced to
 * sha256(canonicalString) plus its source lastUpdated, and the rows spilled page by page into a scratch
 * SQLite file; missing, extra, differing and matching then come from joins on disk. Memory stays at a page
 * per server plus the bounded lists, whatever the servers hold.
 *
 * Paged search rather than `$export`: it works on any FHIR server, needs no async job or storage account,
 * and scopes exactly. Measured on the HAPI test servers (~3-4k resources, 4 types at a time) it was as fast
 * as a system `$export` or faster (3.6-6 s against 3.6-8.5 s, of which 3-8 s waiting for the job), and
 * HAPI's `$export` ignored a `_tag` `_typeFilter` for some types, returning other resources too.
 * Limits: a resource deleted on the source after `asOf` shows as extra (a search does not say when a
 * resource was deleted), and a server whose paging shifts under concurrent writes can skip or repeat a
 * resource (repeats are counted once).
 */
import { createHash } from 'node:crypto';
import { canonicalString, differingPaths } from '@fhir-migrate/shared/domain/canonical.ts';
import { mapLimit } from '@fhir-migrate/shared/runtime/map-limit.ts';
import { pendingTest } from './as-of.ts';
import { normalizeFilter, parseRef, withQuery } from './query.ts';
import { type ListKind, openScratch, type Scratch, type TypeTally } from './scratch.ts';
import { lastUpdatedOf, readResource, searchPages } from './search.ts';
import { typesInScope } from './surface.ts';
import type { CheckDeps, CheckScope, Progress, Side } from './types.ts';

export interface ReconcileTypeRow extends TypeTally {
  type: string;
}

export interface ReconcileReport {
  rows: ReconcileTypeRow[];
  totals: TypeTally;
  /** First `listLimit` (default 1000) of each, as `Type/id`; `differing` with the JSON paths that differ (paths computed for at most `pathLimit`=100 of them). */
  missing: string[];
  extra: string[];
  differing: { ref: string; paths: string[] }[];
  pending: string[];
  truncated: boolean;
  /** missing = extra = differing = 0 */
  ok: boolean;
  durationMs: number;
  asOf?: string;
  /** what it cost: pages fetched per side, resources read (both sides together), bytes read */
  stats: { pages: { source: number; destination: number }; resources: number; bytes: number };
}

export interface ReconcileScope extends CheckScope {
  asOf?: string;
  pageSize?: number;
  listLimit?: number;
}

const check = 'full reconciliation';
const listKinds: readonly ListKind[] = ['missing', 'extra', 'differing', 'pending'];
const tallyKeys: readonly (keyof TypeTally)[] = [
  'source',
  'destination',
  'matching',
  'missing',
  'extra',
  'differing',
  'pending',
];
const pathLimit = 100;
/** Types scanned at once (each on both servers). */
const typeConcurrency = 4;
const readConcurrency = 8;

export async function fullReconcile(
  deps: CheckDeps,
  scope: ReconcileScope,
  onProgress?: Progress,
): Promise<ReconcileReport> {
  const started = Date.now();
  const pageSize = scope.pageSize ?? 500;
  const listLimit = scope.listLimit ?? 1000;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new Error('pageSize must be a whole number ≥ 1');
  if (!Number.isSafeInteger(listLimit) || listLimit < 0)
    throw new Error('listLimit must be a whole number ≥ 0');
  const isPending = pendingTest(scope.asOf);
  const filter = normalizeFilter(scope.filter);
  const types = await typesInScope(deps, scope);

  const stats: ReconcileReport['stats'] = { pages: { source: 0, destination: 0 }, resources: 0, bytes: 0 };
  const scratch = openScratch(deps.workDir);
  try {
    const rows: ReconcileTypeRow[] = [];
    const lists: Record<ListKind, string[]> = { missing: [], extra: [], differing: [], pending: [] };
    let truncated = false;
    // Several types at once: a search page costs the server more waiting than work (HAPI: ~0.1-0.6 s a
    // page), so overlapping them shortens the run; memory stays at a page per side per type in flight.
    await mapLimit(types, typeConcurrency, (type, signal) =>
      scanType(
        deps,
        scratch,
        type,
        withQuery(type, `_count=${pageSize}`, filter),
        isPending,
        stats,
        signal,
        onProgress,
      ),
    );
    for (const type of types) {
      const tally = scratch.tally(type);
      rows.push({ type, ...tally });
      for (const kind of listKinds) {
        const list = lists[kind];
        const room = listLimit - list.length;
        list.push(...scratch.list(kind, type, room).map((id) => `${type}/${id}`));
        if (tally[kind] > Math.max(0, room)) truncated = true;
      }
    }
    const totals = sumRows(rows);
    const differing = await withPaths(deps, lists.differing, onProgress);
    const report: ReconcileReport = {
      rows,
      totals,
      missing: lists.missing,
      extra: lists.extra,
      differing,
      pending: lists.pending,
      truncated,
      ok: totals.missing === 0 && totals.extra === 0 && totals.differing === 0,
      durationMs: Date.now() - started,
      ...(scope.asOf !== undefined ? { asOf: scope.asOf } : {}),
      stats,
    };
    deps.log?.info(
      { ...totals, ok: report.ok, durationMs: report.durationMs, stats },
      'full reconciliation done',
    );
    return report;
  } finally {
    scratch.close();
  }
}

/**
 * Streams one type from both servers at once into the scratch file. If one side fails, the other is
 * stopped (its request aborted) and the first failure is what the caller sees.
 */
async function scanType(
  deps: CheckDeps,
  scratch: Scratch,
  type: string,
  path: string,
  isPending: (lastUpdated: string | undefined) => boolean,
  stats: ReconcileReport['stats'],
  signal: AbortSignal,
  onProgress?: Progress,
): Promise<void> {
  let failure: { error: unknown } | undefined;
  // Aborted when another type failed, or when the other side of this type did.
  const stop = new AbortController();
  const both = AbortSignal.any([signal, stop.signal]);
  const scan = async (side: Side) => {
    const client = side === 'source' ? deps.source : deps.destination;
    let done = 0;
    for await (const page of searchPages(client, side, check, type, path, both)) {
      if (both.aborted) return;
      scratch.add(
        side,
        type,
        page.resources.map((resource) => {
          const lastUpdated = side === 'source' ? lastUpdatedOf(resource) : undefined;
          return {
            id: resource.id,
            hash: createHash('sha256').update(canonicalString(resource)).digest(),
            ...(lastUpdated !== undefined ? { lastUpdated } : {}),
            pending: side === 'source' && isPending(lastUpdated),
          };
        }),
      );
      stats.pages[side]++;
      stats.resources += page.resources.length;
      stats.bytes += page.bytes;
      done += page.resources.length;
      onProgress?.({
        phase: 'reconcile',
        type,
        side,
        done,
        ...(page.total !== undefined ? { total: page.total } : {}),
      });
    }
  };
  const guarded = (side: Side) =>
    scan(side).catch((error: unknown) => {
      failure ??= { error };
      stop.abort();
    });
  await Promise.all([guarded('source'), guarded('destination')]);
  if (failure) throw failure.error;
}

/** Re-reads the first `pathLimit` differing resources from both servers to name the paths that differ. */
async function withPaths(
  deps: CheckDeps,
  refs: string[],
  onProgress?: Progress,
): Promise<{ ref: string; paths: string[] }[]> {
  const explained = refs.slice(0, pathLimit);
  let done = 0;
  const paths = await mapLimit(explained, readConcurrency, async (ref) => {
    const target = parseRef(ref);
    if (!target) return [];
    const [src, dst] = await Promise.all([
      readResource(deps.source, 'source', check, target),
      readResource(deps.destination, 'destination', check, target),
    ]);
    onProgress?.({ phase: 'paths', type: target.type, done: ++done, total: explained.length });
    // Either one gone since the scan: the difference is real but has no paths to name any more.
    if (src.status !== 200 || dst.status !== 200) {
      deps.log?.warn(
        { type: target.type, id: target.id },
        'differing resource changed during reconciliation',
      );
      return [];
    }
    return differingPaths(src.resource, dst.resource);
  });
  return refs.map((ref, i) => ({ ref, paths: paths[i] ?? [] }));
}

function sumRows(rows: readonly TypeTally[]): ReconcileReport['totals'] {
  const totals = { source: 0, destination: 0, matching: 0, missing: 0, extra: 0, differing: 0, pending: 0 };
  for (const row of rows) {
    for (const key of tallyKeys) totals[key] += row[key];
  }
  return totals;
}
