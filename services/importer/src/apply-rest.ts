/**
 * Applies a chunk's staged files to the destination through REST batch bundles (id-preserving PUTs),
 * recording every refused resource with its type, id, staged file, line and the destination's reason.
 */
import { readNdjsonLines } from '@fhir-migrate/shared/adapters/fhir-http/ndjson.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { sanitizeReason } from '@fhir-migrate/shared/application/errors.ts';
import type { ChunkEventData, ResourceIssue } from '@fhir-migrate/shared/contracts/events.ts';
import type { ChunkState } from '@fhir-migrate/shared/domain/chunk.ts';

type ImportResult = ChunkEventData<'ImportCompleted'>;

export async function applyChunkRest(ctx: PipelineContext, state: ChunkState): Promise<ImportResult> {
  const exportResult = state.exportResult;
  if (!exportResult) throw new Error(`chunk ${state.plan?.chunkId} has no export result to import`);
  const imported: Record<string, number> = {};
  const failed: Record<string, number> = {};
  const failures: ResourceIssue[] = [];
  for (const file of exportResult.files) {
    imported[file.type] = imported[file.type] ?? 0;
    if (file.lines === 0) continue;
    const body = await ctx.staging.get(file.key);
    const result = await ctx.rest.applyFile(file.type, readNdjsonLines(body));
    imported[file.type] = (imported[file.type] ?? 0) + result.imported;
    failed[file.type] = (failed[file.type] ?? 0) + result.failed.length;
    for (const f of result.failed) {
      failures.push({
        type: f.type,
        ...(f.id ? { id: f.id } : {}),
        file: file.key,
        line: f.line,
        reason: sanitizeReason(f.reason),
      });
    }
  }
  const deletesApplied = await applyDeletions(ctx, exportResult.deletions);
  return { imported, failed, failures, deletesApplied };
}

export async function applyDeletions(
  ctx: PipelineContext,
  deletions: { type: string; id: string }[],
): Promise<number> {
  if (deletions.length === 0) return 0;
  const result = await ctx.rest.applyDeletes(deletions);
  return result.deleted;
}
