/**
 * Deep check on demand: a random but reproducible sample of the source's resources, each read from both
 * servers and compared canonically (lossless decimals; meta.versionId and meta.lastUpdated ignored).
 *
 * The sample is, per type in scope, the `count` resources with the lowest sha256(`${seed}:${type}/${id}`)
 * (the seed tool's DeepCheckCount is per type too, and a rare type must not vanish in a uniform sample
 * dominated by Observations): ids are streamed page by page from the source (`_elements=id`) through a
 * bounded heap per type, so the sample is the same for the same seed and data and never needs all ids in
 * memory.
 */
import { createHash } from 'node:crypto';
import { differingPaths } from '@fhir-migrate/shared/domain/canonical.ts';
import { mapLimit } from '@fhir-migrate/shared/runtime/map-limit.ts';
import { pendingTest } from './as-of.ts';
import { normalizeFilter, type Ref, withQuery } from './query.ts';
import { createLowestSampler } from './sampler.ts';
import { lastUpdatedOf, readResource, searchPages } from './search.ts';
import { typesInScope } from './surface.ts';
import type { CheckDeps, CheckScope, Progress } from './types.ts';

export interface Mismatch {
  type: string;
  id: string;
  kind: 'missing' | 'differs' | 'extra';
  paths?: string[];
}

export interface DeepReport {
  seed: number;
  perType: Record<string, { sampled: number; mismatches: number }>;
  /** Sampled resources compared (sampled less pending). */
  checked: number;
  /** Sampled resources skipped as not yet due: changed on the source at or after `asOf`. */
  pending: number;
  mismatches: Mismatch[];
  ok: boolean;
  durationMs: number;
}

export interface DeepScope extends CheckScope {
  /** Resources sampled per type. */
  count: number;
  seed: number;
  asOf?: string;
}

const check = 'deep check';
/** Ids per page of the id stream: only ids travel, so pages can be large. */
const idPageSize = 1000;
/** Resources read at once per server. */
const readConcurrency = 8;
/** Types listed at once. */
const typeConcurrency = 4;

export async function deepSample(
  deps: CheckDeps,
  scope: DeepScope,
  onProgress?: Progress,
): Promise<DeepReport> {
  const started = Date.now();
  if (!Number.isSafeInteger(scope.count) || scope.count < 0)
    throw new Error('deep check count must be a whole number ≥ 0');
  if (!Number.isSafeInteger(scope.seed)) throw new Error('deep check seed must be a whole number');
  const isPending = pendingTest(scope.asOf);
  const filter = normalizeFilter(scope.filter);
  const types = await typesInScope(deps, scope);

  const samplers = new Map(types.map((t) => [t, createLowestSampler<Ref>(scope.count)]));
  let listed = 0;
  // Types are listed several at once; the sample does not depend on the order ids arrive in.
  await mapLimit(types, typeConcurrency, async (type, signal) => {
    const sampler = samplers.get(type) ?? createLowestSampler<Ref>(0);
    const path = withQuery(type, '_elements=id', `_count=${idPageSize}`, filter);
    for await (const page of searchPages(deps.source, 'source', check, type, path, signal)) {
      for (const { id } of page.resources) {
        const score = createHash('sha256').update(`${scope.seed}:${type}/${id}`).digest('hex');
        sampler.offer(score, { type, id });
      }
      listed += page.resources.length;
      onProgress?.({ phase: 'list', type, side: 'source', done: listed });
    }
  });

  const sample = types.flatMap((t) => (samplers.get(t)?.result() ?? []).map((s) => s.item));
  const perType: DeepReport['perType'] = Object.fromEntries(
    types.map((t) => [t, { sampled: 0, mismatches: 0 }]),
  );
  let done = 0;
  const outcomes = await mapLimit(sample, readConcurrency, async (ref) => {
    const outcome = await compareOne(deps, ref, isPending, scope.asOf !== undefined);
    onProgress?.({ phase: 'compare', type: ref.type, done: ++done, total: sample.length });
    return outcome;
  });

  const mismatches: Mismatch[] = [];
  let pending = 0;
  for (const [i, outcome] of outcomes.entries()) {
    const ref = sample[i];
    if (!ref) continue;
    const row = perType[ref.type] ?? { sampled: 0, mismatches: 0 };
    perType[ref.type] = row;
    row.sampled++;
    if (outcome === 'pending') pending++;
    else if (outcome !== 'match') {
      row.mismatches++;
      mismatches.push(outcome);
    }
  }
  const report: DeepReport = {
    seed: scope.seed,
    perType,
    checked: sample.length - pending,
    pending,
    mismatches,
    ok: mismatches.length === 0,
    durationMs: Date.now() - started,
  };
  deps.log?.info(
    {
      sampled: sample.length,
      checked: report.checked,
      pending,
      mismatches: mismatches.length,
      durationMs: report.durationMs,
    },
    'deep check done',
  );
  return report;
}

async function compareOne(
  deps: CheckDeps,
  ref: Ref,
  isPending: (lastUpdated: string | undefined) => boolean,
  hasAsOf: boolean,
): Promise<'match' | 'pending' | Mismatch> {
  const [src, dst] = await Promise.all([
    readResource(deps.source, 'source', check, ref),
    readResource(deps.destination, 'destination', check, ref),
  ]);
  if (src.status !== 200) {
    // Listed a moment ago, gone now: deleted while the check ran. With a watermark that deletion is
    // after it (a watermark is never in the future), so not yet due; without one it is a difference now.
    if (dst.status !== 200) return 'match';
    return hasAsOf ? 'pending' : { ...ref, kind: 'extra' };
  }
  if (isPending(lastUpdatedOf(src.resource))) return 'pending';
  if (dst.status !== 200) return { ...ref, kind: 'missing' };
  const paths = differingPaths(src.resource, dst.resource);
  return paths.length === 0 ? 'match' : { ...ref, kind: 'differs', paths };
}
