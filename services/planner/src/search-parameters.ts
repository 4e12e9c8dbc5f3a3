/**
 * Custom SearchParameters are copied before any data: every page of the source's SearchParameters, each
 * written to the destination with its id and its outcome checked, then `$reindex` where supported.
 */
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { reasonOf, sanitizeReason } from '@fhir-migrate/shared/application/errors.ts';
import type { MigrationEventData } from '@fhir-migrate/shared/contracts/migration-events.ts';
import { parseLossless } from '@fhir-migrate/shared/domain/canonical.ts';
import { stringify } from 'lossless-json';

interface Bundle {
  entry?: { resource?: { resourceType?: string; id?: string } }[];
  link?: { relation?: string; url?: string }[];
}

export async function copySearchParameters(
  ctx: PipelineContext,
): Promise<MigrationEventData<'SearchParametersCopied'>> {
  let copied = 0;
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
  if (copied === 0) return { copied, failures, reindex: 'not-needed' };
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
    if (res.status >= 200 && res.status < 300) return { copied, failures, reindex: 'requested' };
    if ([400, 404, 405, 501].includes(res.status))
      return { copied, failures, reindex: 'unsupported', reindexDetail: `HTTP ${res.status}` };
    return {
      copied,
      failures,
      reindex: 'failed',
      reindexDetail: sanitizeReason(`HTTP ${res.status}: ${res.body}`, 300),
    };
  } catch (err) {
    return { copied, failures, reindex: 'failed', reindexDetail: reasonOf(err) };
  }
}
