/**
 * Surface check: per resource type, how many resources each server holds (`_summary=count`, scoped by the
 * filter). Cheap — two requests per type — and blind to a missing resource offset by an extra one, which
 * is why the full reconciliation exists. HAPI answers an estimate unless asked for `_total=accurate`.
 */
import type { FhirClient } from '@fhir-migrate/shared/adapters/fhir-http/client.ts';
import { mapLimit } from '@fhir-migrate/shared/runtime/map-limit.ts';
import { z } from 'zod';
import { CheckError, withContext } from './errors.ts';
import { assertResourceType, isResourceType, normalizeFilter, withQuery } from './query.ts';
import type { CheckDeps, CheckScope, Progress, Side } from './types.ts';

export interface SurfaceRow {
  type: string;
  source: number;
  destination: number;
  /** destination - source */
  difference: number;
}

export interface SurfaceReport {
  rows: SurfaceRow[];
  ok: boolean;
  durationMs: number;
}

const check = 'surface check';
/** Count requests in flight per server. */
const concurrency = 8;

const countSchema = z.looseObject({ total: z.number().int().nonnegative() });
const capabilitySchema = z.looseObject({
  rest: z.array(z.looseObject({ resource: z.array(z.looseObject({ type: z.string() })).default([]) })).min(1),
});

export async function surfaceCheck(
  deps: CheckDeps,
  scope: CheckScope,
  onProgress?: Progress,
): Promise<SurfaceReport> {
  const started = Date.now();
  const filter = normalizeFilter(scope.filter);
  const types = await typesInScope(deps, scope);
  const total = types.length * 2;
  let done = 0;
  const countOn = async (side: Side, type: string) => {
    const n = await countOf(side === 'source' ? deps.source : deps.destination, side, type, filter);
    onProgress?.({ phase: 'count', type, side, done: ++done, total });
    return n;
  };
  const rows = await mapLimit(types, concurrency, async (type): Promise<SurfaceRow> => {
    const [source, destination] = await Promise.all([countOn('source', type), countOn('destination', type)]);
    return { type, source, destination, difference: destination - source };
  });
  const report = { rows, ok: rows.every((r) => r.difference === 0), durationMs: Date.now() - started };
  deps.log?.info({ types: rows.length, ok: report.ok, durationMs: report.durationMs }, 'surface check done');
  return report;
}

/** The scope's types, checked and without repeats; when it names none, the types found on the source. */
export async function typesInScope(deps: CheckDeps, scope: CheckScope): Promise<string[]> {
  for (const type of scope.types) assertResourceType(type);
  if (scope.types.length > 0) return [...new Set(scope.types)];
  return typesOnSource(deps, scope.filter);
}

/**
 * Every type the source's CapabilityStatement lists that has at least one resource matching the filter on
 * the source, in the CapabilityStatement's order.
 */
export async function typesOnSource(deps: CheckDeps, filter?: string): Promise<string[]> {
  const query = normalizeFilter(filter);
  const url = deps.source.resolve('metadata');
  let body: unknown;
  try {
    body = (await deps.source.json({ url, headers: { accept: 'application/fhir+json' } })).body;
  } catch (error) {
    throw withContext({ check: 'type discovery', side: 'source', url }, error);
  }
  const parsed = capabilitySchema.safeParse(body);
  if (!parsed.success) {
    throw new CheckError(
      { check: 'type discovery', side: 'source', url },
      'the CapabilityStatement has no rest[0].resource list',
    );
  }
  const listed = [...new Set((parsed.data.rest[0]?.resource ?? []).map((r) => r.type))].filter(
    isResourceType,
  );
  const counts = await mapLimit(listed, concurrency, (type) =>
    countOf(deps.source, 'source', type, query, 'type discovery'),
  );
  return listed.filter((_, i) => (counts[i] ?? 0) > 0);
}

/** The exact number of `type` resources matching the (normalised) filter on one server. */
export async function countOf(
  client: FhirClient,
  side: Side,
  type: string,
  filter: string,
  checkName = check,
): Promise<number> {
  const url = client.resolve(withQuery(type, '_summary=count', '_total=accurate', filter));
  const context = { check: checkName, side, type, url };
  let body: unknown;
  try {
    body = (
      await client.json({ url, headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' } })
    ).body;
  } catch (error) {
    throw withContext(context, error);
  }
  const parsed = countSchema.safeParse(body);
  if (!parsed.success) throw new CheckError(context, `the count of ${type} came back without a total`);
  return parsed.data.total;
}
