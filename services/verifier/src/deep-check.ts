/**
 * Deep check of one chunk: a reproducible sample of its staged resources (the N with the lowest hash of
 * chunk and id) is read back from the destination and compared canonically. A resource that changed on
 * the source after the chunk's window is not a mismatch: a later chunk carries its newer version.
 */
import { createHash } from 'node:crypto';
import { checkResourceLine, readNdjsonLines } from '@fhir-migrate/shared/adapters/fhir-http/ndjson.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import type { ResourceIssue } from '@fhir-migrate/shared/contracts/events.ts';
import { differingPaths, parseLossless } from '@fhir-migrate/shared/domain/canonical.ts';
import type { ChunkState } from '@fhir-migrate/shared/domain/chunk.ts';
import { recordVerified, type VerificationResult } from '@fhir-migrate/shared/runtime/metrics.ts';

interface Sampled {
  score: string;
  type: string;
  id: string;
  text: string;
}

export async function deepCheck(
  ctx: PipelineContext,
  state: ChunkState,
  count: number,
): Promise<{ checked: number; mismatches: ResourceIssue[] }> {
  const plan = state.plan;
  if (!plan || !state.exportResult || count === 0) return { checked: 0, mismatches: [] };
  const failedIds = new Set((state.importResult?.failures ?? []).map((f) => `${f.type}/${f.id}`));
  const deleted = new Set(state.exportResult.deletions.map((d) => `${d.type}/${d.id}`));
  let sample: Sampled[] = [];
  for (const file of state.exportResult.files) {
    if (file.lines === 0) continue;
    for await (const { text } of readNdjsonLines(await ctx.staging.get(file.key))) {
      // Staged lines passed the line check on the way in; it reads their id without regexes.
      const check = checkResourceLine(text);
      const id = check.ok ? check.id : undefined;
      if (!id || failedIds.has(`${file.type}/${id}`) || deleted.has(`${file.type}/${id}`)) continue;
      const score = createHash('sha256').update(`${plan.chunkId}:${file.type}/${id}`).digest('hex');
      if (sample.length < count || score < (sample[sample.length - 1]?.score ?? '')) {
        sample.push({ score, type: file.type, id, text });
        sample.sort((a, b) => (a.score < b.score ? -1 : 1));
        sample = sample.slice(0, count);
      }
    }
  }
  const mismatches: ResourceIssue[] = [];
  for (const s of sample) {
    const issue = await compareOne(ctx, s, Date.parse(plan.till));
    if (issue) mismatches.push(issue);
  }
  return { checked: sample.length, mismatches };
}

async function compareOne(
  ctx: PipelineContext,
  s: Sampled,
  till: number,
): Promise<ResourceIssue | undefined> {
  const path = `${s.type}/${encodeURIComponent(s.id)}`;
  const dest = await ctx.destination.text({
    url: path,
    headers: { accept: 'application/fhir+json' },
    throwOnError: false,
  });
  const verified = (result: VerificationResult) => recordVerified(ctx.config.migrationId, s.type, result);
  if (dest.status === 200) {
    const paths = differingPaths(parseLossless(s.text), parseLossless(dest.body));
    if (paths.length === 0) return void verified('match');
    // Changed on the source since the window: a later chunk carries its newer version.
    if (await changedSince(ctx, path, till)) return void verified('superseded');
    verified('mismatch');
    return { type: s.type, id: s.id, reason: `differs at ${paths.join(', ')}` };
  }
  if (dest.status === 404 || dest.status === 410) {
    if (await changedSince(ctx, path, till)) return void verified('superseded');
    verified('missing');
    return { type: s.type, id: s.id, reason: `missing on the destination (HTTP ${dest.status})` };
  }
  throw new Error(`deep check read of ${path} on the destination answered HTTP ${dest.status}`);
}

/** Whether the source's current version is newer than the window (or the resource is gone there). */
async function changedSince(ctx: PipelineContext, path: string, till: number): Promise<boolean> {
  const src = await ctx.source.text({
    url: path,
    headers: { accept: 'application/fhir+json' },
    throwOnError: false,
  });
  if (src.status === 404 || src.status === 410) return true;
  if (src.status !== 200)
    throw new Error(`deep check read of ${path} on the source answered HTTP ${src.status}`);
  const lastUpdated = /"lastUpdated"\s*:\s*"([^"]+)"/.exec(src.body)?.[1];
  return lastUpdated !== undefined && Date.parse(lastUpdated) >= till;
}
