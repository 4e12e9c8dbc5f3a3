/**
 * What the planner asks the source: which types to count, how many resources a window holds, where the
 * data starts. Counting is per type with `_summary=count` on a half-open `_lastUpdated` range.
 */

import { iso, type Window } from '../domain/window.ts';
import { mapLimit } from '../runtime/map-limit.ts';
import type { PipelineContext } from './context.ts';

/** What the source queries need: the configuration and a client for the source. */
export type SourceContext = Pick<PipelineContext, 'config' | 'source'>;

let cachedTypes: { url: string; types: string[] } | undefined;

/** The configured types, else every type the source's CapabilityStatement lists (less Binary for HAPI, which never exports it). */
export async function typesToMigrate(ctx: SourceContext): Promise<string[]> {
  if (ctx.config.resourceTypes.length > 0) return ctx.config.resourceTypes;
  if (cachedTypes?.url === ctx.source.baseUrl) return cachedTypes.types;
  const res = await ctx.source.json({ url: 'metadata', headers: { accept: 'application/fhir+json' } });
  const body = res.body as { rest?: { resource?: { type?: string }[] }[] } | undefined;
  const types = (body?.rest?.[0]?.resource ?? [])
    .map((r) => r.type)
    .filter((t): t is string => typeof t === 'string' && /^[A-Z][A-Za-z]+$/.test(t))
    .filter((t) => !(ctx.config.source.exportDialect === 'hapi' && t === 'Binary'));
  if (types.length === 0)
    throw new Error(
      `the source's CapabilityStatement (${ctx.source.baseUrl}/metadata) lists no resource types; set resourceTypes`,
    );
  cachedTypes = { url: ctx.source.baseUrl, types };
  return types;
}

async function countType(ctx: SourceContext, type: string, query: string): Promise<number> {
  const res = await ctx.source.json({
    url: `${type}?_summary=count&${query}`,
    headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
  });
  const total = (res.body as { total?: unknown } | undefined)?.total;
  if (typeof total !== 'number') throw new Error(`count of ${type} on the source returned no total`);
  return total;
}

/** Resources whose lastUpdated is in [since, till), per type, 8 requests at a time. */
export async function countWindowByType(ctx: SourceContext, window: Window): Promise<Record<string, number>> {
  const types = await typesToMigrate(ctx);
  const query = `_lastUpdated=ge${encodeURIComponent(iso(window.since))}&_lastUpdated=lt${encodeURIComponent(iso(window.till))}`;
  const counts = await mapLimit(types, 8, (t) => countType(ctx, t, query));
  return Object.fromEntries(types.map((t, i) => [t, counts[i] ?? 0]));
}

/** Resources whose lastUpdated is in [since, till), summed over the types. */
export async function countWindow(ctx: SourceContext, window: Window): Promise<number> {
  return Object.values(await countWindowByType(ctx, window)).reduce((a, b) => a + b, 0);
}

/** The earliest lastUpdated on the source over the types, or undefined for an empty source. */
export async function earliestLastUpdated(ctx: SourceContext): Promise<number | undefined> {
  let earliest: number | undefined;
  for (const type of await typesToMigrate(ctx)) {
    const res = await ctx.source.json({
      url: `${type}?_sort=_lastUpdated&_count=1`,
      headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
    });
    const entry = (res.body as { entry?: { resource?: { meta?: { lastUpdated?: string } } }[] } | undefined)
      ?.entry?.[0];
    const stamp = entry?.resource?.meta?.lastUpdated;
    if (stamp && (earliest === undefined || Date.parse(stamp) < earliest)) earliest = Date.parse(stamp);
  }
  return earliest;
}
