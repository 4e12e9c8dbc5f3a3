/**
 * Streams every file of a completed export into staging: each line is checked (valid JSON, the file's
 * resource type, an id, lastUpdated inside the window) and passed through byte for byte; refused lines
 * are recorded with file and line, never dropped silently. Memory stays flat whatever the file size: a few
 * 1 MiB blocks are in flight at a time.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExportManifest } from '@fhir-migrate/shared/adapters/fhir-http/dialects/types.ts';
import { isFhirHttpError } from '@fhir-migrate/shared/adapters/fhir-http/errors.ts';
import { readNdjsonLines } from '@fhir-migrate/shared/adapters/fhir-http/ndjson.ts';
import { redactUrl } from '@fhir-migrate/shared/adapters/fhir-http/redact.ts';
import {
  backoffDelayMs,
  defaultRetryPolicy,
  errorCode,
  isTransientNetworkCode,
} from '@fhir-migrate/shared/adapters/fhir-http/retry.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { reasonOf } from '@fhir-migrate/shared/application/errors.ts';
import type { ChunkEventData, ResourceIssue, StagedFile } from '@fhir-migrate/shared/contracts/events.ts';
import { crashPoint } from '@fhir-migrate/shared/runtime/crash-point.ts';
import type { BlockVerdict } from './check-block.ts';
import { type CheckPool, createCheckPool } from './check-pool.ts';
import { splitBlocks } from './split-blocks.ts';

type ExportResult = ChunkEventData<'ExportCompleted'>;

/** Blocks checked ahead of the one being staged (each ~1 MiB). */
const blocksInFlight = 4;

let sharedPool: CheckPool | undefined;
/** One pool per process, started on first use; its idle worker never keeps the process alive. */
function checkPool(): CheckPool {
  sharedPool ??= createCheckPool();
  return sharedPool;
}

/** What staging needs of the pipeline (the benchmark drives it with exactly this). */
export type StageContext = Pick<PipelineContext, 'config' | 'staging' | 'exportDialect' | 'log'>;

/**
 * Stages an export's files under `<migration>/<chunk>/job-<hash of the export job>/`. Files of another
 * export of the same chunk get other names, so an `$import` of them is another request body: AHDS answers an
 * identical body with the job it already ran (it deduplicates on the body), which would import stale files.
 * A redelivered submit of the same files stays identical, and so is deduplicated as it should be.
 */
export async function stageExport(
  ctx: StageContext,
  chunkId: string,
  window: { since: string; till: string },
  manifest: ExportManifest,
  exportJob?: string,
): Promise<ExportResult> {
  const chunkPrefix = `${ctx.config.migrationId}/${chunkId}/`;
  const prefix = exportJob
    ? `${chunkPrefix}job-${createHash('sha256').update(exportJob).digest('hex').slice(0, 16)}/`
    : chunkPrefix;
  // A redelivered poll restages from scratch: leftovers of an interrupted attempt (or of an earlier export
  // of this chunk) must not be imported.
  await ctx.staging.delete(chunkPrefix);
  const files: StagedFile[] = [];
  const exported: Record<string, number> = {};
  const staged: Record<string, number> = {};
  const rejected: ResourceIssue[] = [];
  let outOfWindow = 0;
  for (const [i, output] of manifest.output.entries()) {
    const key = `${prefix}${output.type}-${String(i + 1).padStart(4, '0')}.ndjson`;
    const file = await stageFileWithRetries(ctx, chunkId, key, output, window);
    rejected.push(...file.rejected);
    outOfWindow += file.outOfWindow;
    exported[output.type] = (exported[output.type] ?? 0) + file.seen;
    staged[output.type] = (staged[output.type] ?? 0) + file.lines;
    files.push({
      type: output.type,
      key,
      sourceUrl: redactUrl(output.url),
      lines: file.lines,
      bytes: file.bytes,
      sha256: file.sha256,
    });
    ctx.log.debug(
      { chunkId, type: output.type, key, lines: file.lines, bytes: file.bytes },
      'staged export file',
    );
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

/** Tries per export file: a download cut short (reset, truncated body, idle timeout) is fetched again. */
export const fileDownloadAttempts = 4;

interface StagedFileResult {
  lines: number;
  seen: number;
  outOfWindow: number;
  rejected: ResourceIssue[];
  bytes: number;
  sha256: string;
}

/**
 * One export file into staging, downloaded again from its first byte when the transfer breaks off: the
 * staged object is rewritten whole, so a partial attempt leaves nothing behind. Errors that are not
 * transport failures (a refused file, a staging error) are not retried here.
 */
async function stageFileWithRetries(
  ctx: StageContext,
  chunkId: string,
  key: string,
  output: { type: string; url: string },
  window: { since: string; till: string },
): Promise<StagedFileResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await stageFile(ctx, key, output, window);
    } catch (err) {
      const code = errorCode(err);
      if (!isDownloadBreak(err, code)) throw err;
      if (attempt >= fileDownloadAttempts)
        throw new Error(
          `export file ${key} (${redactUrl(output.url)}) broke off ${attempt} times, last: ${reasonOf(err)}`,
          { cause: err },
        );
      const waitMs = backoffDelayMs(attempt, { ...defaultRetryPolicy, maxDelayMs: 10_000 });
      ctx.log.warn(
        { chunkId, file: key, url: redactUrl(output.url), attempt, code, err: reasonOf(err), waitMs },
        'export file download broke off; downloading it again',
      );
      await sleep(waitMs);
    }
  }
}

/** A transfer that broke off, as opposed to a file that was read whole and refused. */
function isDownloadBreak(err: unknown, code: string | undefined): boolean {
  if (isFhirHttpError(err)) return err.retryable;
  // The transport's code is found through the staging wrapper's cause chain (errorCode walks it).
  return isTransientNetworkCode(code) || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

async function stageFile(
  ctx: StageContext,
  key: string,
  output: { type: string; url: string },
  window: { since: string; till: string },
): Promise<StagedFileResult> {
  const body = await ctx.exportDialect.openFile(output.url);
  const result: Omit<StagedFileResult, 'bytes' | 'sha256'> = {
    lines: 0,
    seen: 0,
    outOfWindow: 0,
    rejected: [],
  };
  const options = { expectedType: output.type, since: window.since, till: window.till };
  /**
   * Blocks of whole lines are checked on a worker thread, a few ahead, and staged in order: accepted lines
   * byte for byte, refused ones recorded with their line number.
   */
  async function* checkedLines(): AsyncGenerator<Uint8Array> {
    const pool = checkPool();
    const inFlight: { block: Buffer; verdict: Promise<BlockVerdict> }[] = [];
    let first = true;
    let lineBase = 0;
    const settle = async (item: { block: Buffer; verdict: Promise<BlockVerdict> }): Promise<Uint8Array> => {
      const verdict = await item.verdict;
      for (const r of verdict.rejected)
        result.rejected.push({
          type: output.type,
          file: key,
          line: lineBase + r.line,
          reason: r.reason,
          ...(r.id ? { id: r.id } : {}),
        });
      result.seen += verdict.lines;
      result.lines += verdict.lines - verdict.rejected.length;
      result.outOfWindow += verdict.outOfWindow;
      lineBase += verdict.lines;
      return verdict.rebuilt ?? item.block;
    };
    for await (const block of splitBlocks(body)) {
      const verdict = pool.check({ block, options, first });
      // Observed here too, so that a download failing meanwhile leaves no unhandled rejection behind.
      verdict.catch(() => undefined);
      inFlight.push({ block, verdict });
      first = false;
      if (inFlight.length >= blocksInFlight) {
        const out = await settle(inFlight.shift() as (typeof inFlight)[number]);
        if (out.length > 0) {
          yield out;
          crashPoint('mid-staging');
        }
      }
    }
    for (const item of inFlight) {
      const out = await settle(item);
      if (out.length > 0) {
        yield out;
        crashPoint('mid-staging');
      }
    }
  }
  const object = await ctx.staging.put(key, checkedLines(), { contentType: 'application/fhir+ndjson' });
  return { ...result, bytes: object.bytes, sha256: object.sha256 };
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
