/**
 * Custom SearchParameters are copied before any data: every page of the source's SearchParameters, each
 * written to the destination with its id and its outcome checked, then `$reindex` where supported — only
 * when one was created or changed: a SearchParameter already on the destination as on the source is left
 * alone, and a whole-server reindex (hours on a large destination, and it delays every import job queued
 * behind it) is not asked for again by a second migration into the same destination.
 */
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { reasonOf, sanitizeReason } from '@fhir-migrate/shared/application/errors.ts';
import type { MigrationEventData } from '@fhir-migrate/shared/contracts/migration-events.ts';
import { differingPaths, parseLossless } from '@fhir-migrate/shared/domain/canonical.ts';
import { stringify } from 'lossless-json';

interface Bundle {
  entry?: { resource?: { resourceType?: string; id?: string } }[];
  link?: { relation?: string; url?: string }[];
}

export async function copySearchParameters(
  ctx: PipelineContext,
): Promise<MigrationEventData<'SearchParametersCopied'>> {
  let copied = 0;
  let unchanged = 0;
  const failures: MigrationEventData<'SearchParametersCopied'>['failures'] = [];
  let next: string | undefined = 'SearchParameter?_count=100';
  while (next) {
    const page = await ctx.source.text({ url: next, headers: { accept: 'application/fhir+json' } });
    const bundle = parseLossless(page.body) as Bundle;
    for (const entry of bundle.entry ?? []) {
      const resource = entry.resource as
        | (Record<string, unknown> & { id?: string; meta?: Record<string, unknown> })
        | undefined;
      if (!resource?.id) continue;
      const { meta: _meta, ...rest } = resource;
      if (await sameOnDestination(ctx, resource.id, rest)) {
        unchanged++;
        continue;
      }
      const res = await ctx.destination.text({
        method: 'PUT',
        url: `SearchParameter/${encodeURIComponent(resource.id)}`,
        headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
        body: stringify(rest) ?? '',
        throwOnError: false,
      });
      if (res.status >= 200 && res.status < 300) copied++;
      else
        failures.push({
          type: 'SearchParameter',
          id: resource.id,
          reason: sanitizeReason(`HTTP ${res.status}: ${res.body}`, 300),
        });
    }
    next = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  if (copied === 0) return { copied, unchanged, failures, reindex: 'not-needed' };
  try {
    const res = await ctx.destination.text({
      method: 'POST',
      url: '$reindex',
      headers: {
        'content-type': 'application/fhir+json',
        accept: 'application/fhir+json',
        prefer: 'respond-async',
      },
      body: JSON.stringify({ resourceType: 'Parameters', parameter: [] }),
      throwOnError: false,
    });
    if (res.status >= 200 && res.status < 300) return { copied, unchanged, failures, reindex: 'requested' };
    if ([400, 404, 405, 501].includes(res.status))
      return { copied, unchanged, failures, reindex: 'unsupported', reindexDetail: `HTTP ${res.status}` };
    return {
      copied,
      unchanged,
      failures,
      reindex: 'failed',
      reindexDetail: sanitizeReason(`HTTP ${res.status}: ${res.body}`, 300),
    };
  } catch (err) {
    return { copied, unchanged, failures, reindex: 'failed', reindexDetail: reasonOf(err) };
  }
}

/** Whether the destination already holds this SearchParameter with the same content (meta aside). */
async function sameOnDestination(
  ctx: PipelineContext,
  id: string,
  content: Record<string, unknown>,
): Promise<boolean> {
  const res = await ctx.destination.text({
    url: `SearchParameter/${encodeURIComponent(id)}`,
    headers: { accept: 'application/fhir+json' },
    throwOnError: false,
  });
  if (res.status !== 200) return false;
  const existing = parseLossless(res.body);
  if (typeof existing !== 'object' || existing === null || Array.isArray(existing)) return false;
  const { meta: _meta, ...rest } = existing as Record<string, unknown>;
  return differingPaths(rest, content).length === 0;
}
