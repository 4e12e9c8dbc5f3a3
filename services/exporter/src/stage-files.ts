/**
 * Streams every file of a completed export into staging: each line is checked (valid JSON, the file's
 * resource type, an id, lastUpdated inside the window) and passed through byte for byte; refused lines
 * are recorded with file and line, never dropped silently. Memory stays flat whatever the file size.
 */
import type { ExportManifest } from '@fhir-migrate/shared/adapters/fhir-http/dialects/types.ts';
import {
  createResourceLineChecker,
  readNdjsonLineBytes,
  readNdjsonLines,
} from '@fhir-migrate/shared/adapters/fhir-http/ndjson.ts';
import { redactUrl } from '@fhir-migrate/shared/adapters/fhir-http/redact.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import type { ChunkEventData, ResourceIssue, StagedFile } from '@fhir-migrate/shared/contracts/events.ts';

type ExportResult = ChunkEventData<'ExportCompleted'>;

const newline = Buffer.from('\n');
const blockSize = 64 * 1024;

/** What staging needs of the pipeline (the benchmark drives it with exactly this). */
export type StageContext = Pick<PipelineContext, 'config' | 'staging' | 'exportDialect' | 'log'>;

export async function stageExport(
  ctx: StageContext,
  chunkId: string,
  window: { since: string; till: string },
  manifest: ExportManifest,
): Promise<ExportResult> {
  const prefix = `${ctx.config.migrationId}/${chunkId}/`;
  // A redelivered poll restages from scratch: leftovers of an interrupted attempt must not be imported.
  await ctx.staging.delete(prefix);
  const files: StagedFile[] = [];
  const exported: Record<string, number> = {};
  const staged: Record<string, number> = {};
  const rejected: ResourceIssue[] = [];
  let outOfWindow = 0;
  for (const [i, output] of manifest.output.entries()) {
    const key = `${prefix}${output.type}-${String(i + 1).padStart(4, '0')}.ndjson`;
    const body = await ctx.exportDialect.openFile(output.url);
    let lines = 0;
    let seen = 0;
    const check = createResourceLineChecker({
      expectedType: output.type,
      since: window.since,
      till: window.till,
    });
    async function* checkedLines(): AsyncGenerator<Uint8Array> {
      // Accepted lines go on byte for byte, gathered into blocks of ~64 KiB: one write per line costs more
      // than the check.
      let block: Buffer[] = [];
      let blockBytes = 0;
      for await (const { line, bytes } of readNdjsonLineBytes(body)) {
        seen++;
        const result = check(bytes);
        if (!result.ok) {
          rejected.push({
            type: output.type,
            file: key,
            line,
            reason: result.reason,
            ...(result.id ? { id: result.id } : {}),
          });
          continue;
        }
        if (!result.inWindow) outOfWindow++;
        lines++;
        block.push(bytes, newline);
        blockBytes += bytes.length + 1;
        if (blockBytes >= blockSize) {
          yield Buffer.concat(block, blockBytes);
          block = [];
          blockBytes = 0;
        }
      }
      if (blockBytes > 0) yield Buffer.concat(block, blockBytes);
    }
    const object = await ctx.staging.put(key, checkedLines(), { contentType: 'application/fhir+ndjson' });
    exported[output.type] = (exported[output.type] ?? 0) + seen;
    staged[output.type] = (staged[output.type] ?? 0) + lines;
    files.push({
      type: output.type,
      key,
      sourceUrl: redactUrl(output.url),
      lines,
      bytes: object.bytes,
      sha256: object.sha256,
    });
    ctx.log.debug({ chunkId, type: output.type, key, lines, bytes: object.bytes }, 'staged export file');
  }
  const deletions = await readDeletions(ctx, manifest, rejected);
  return {
    ...(manifest.transactionTime ? { transactionTime: manifest.transactionTime } : {}),
    files,
    exported,
    staged,
    rejected,
    outOfWindow,
    deletions,
  };
}

/** Bulk Data `deleted` files: NDJSON Bundles whose entries are `DELETE Type/id` requests. */
async function readDeletions(ctx: StageContext, manifest: ExportManifest, rejected: ResourceIssue[]) {
  const deletions: { type: string; id: string }[] = [];
  for (const file of manifest.deleted) {
    const body = await ctx.exportDialect.openFile(file.url);
    for await (const { line, text } of readNdjsonLines(body)) {
      let bundle: unknown;
      try {
        bundle = JSON.parse(text);
      } catch {
        rejected.push({
          type: 'Bundle',
          file: redactUrl(file.url),
          line,
          reason: 'invalid-json in deleted file',
        });
        continue;
      }
      const entries = (bundle as { entry?: { request?: { method?: string; url?: string } }[] }).entry ?? [];
      for (const entry of entries) {
        const match = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(entry.request?.url ?? '');
        if (entry.request?.method === 'DELETE' && match?.[1] && match[2])
          deletions.push({ type: match[1], id: match[2] });
        else
          rejected.push({
            type: 'Bundle',
            file: redactUrl(file.url),
            line,
            reason: 'deleted-file entry is not DELETE Type/id',
          });
      }
    }
  }
  return deletions;
}
