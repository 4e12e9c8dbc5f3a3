/**
 * Azure Health Data Services `$import` (Azure API for FHIR has none). A Parameters body names blobs on the
 * service's configured storage account, which the service reads with its managed identity: URLs must be
 * absolute, on that account, without a query string (a SAS is refused), each at most once. `mode` is
 * `IncrementalLoad` (versions and lastUpdated kept, soft-deleted versions applied, an identical replay
 * counted as success) unless `InitialLoad` is asked for. Registration is idempotent: an identical body
 * returns the same job. While the service is in initial-import mode other writes get 423 Locked.
 * Polls: 202 while running; 200 `{output[{type,count,inputUrl}], error[{type,count,inputUrl,url}]}` when
 * done (error[] = partial success; `url` is an NDJSON file of OperationOutcomes naming line and offset);
 * the completed reply is held back up to ~60 s on purpose, so polls get a long timeout; 400 when the job
 * was cancelled or its input was refused (e.g. an ETag mismatch), 404 when unknown.
 * Contract: ../shared/notes/azure-contracts.md §B (read from microsoft/fhir-server).
 */
import { z } from 'zod';
import type { FhirClient } from '../client.ts';
import { FhirHttpError } from '../errors.ts';
import { parseOperationOutcome, summarizeOutcome, truncate } from '../operation-outcome.ts';
import { assertAllowedOrigin } from '../origin.ts';
import { redactText, redactUrl } from '../redact.ts';
import { assertResourceTypes, fileRequestAuth, type StorageAuth } from './export-common.ts';
import { postImport } from './import-submit.ts';
import { getJobStatus } from './job-status.ts';
import type {
  BulkImportDialect,
  ImportErrorLine,
  ImportFileReport,
  ImportInput,
  ImportPoll,
  ImportReport,
} from './types.ts';

export interface AhdsImportOptions {
  /**
   * Auth for the error files the service writes to its import storage account (a Blob Storage token),
   * and the origins they may be on; without it they are read with no credentials.
   */
  storageAuth?: StorageAuth;
  mode?: 'IncrementalLoad' | 'InitialLoad';
  /** Timeout of one status poll (default 120 s: the service delays the completed reply by up to ~60 s). */
  pollTimeoutMs?: number;
  now?: () => number;
}

/** The service's own limit of files per import job. */
export const maxAhdsImportFiles = 10_000;

/** The `$import` Parameters body; throws, naming the input, on what the service would refuse with 400. */
export function ahdsImportParameters(
  inputs: readonly ImportInput[],
  options: AhdsImportOptions = {},
): string {
  if (inputs.length === 0) throw new Error('$import needs at least one input');
  if (inputs.length > maxAhdsImportFiles)
    throw new Error(`$import takes at most ${maxAhdsImportFiles} files, got ${inputs.length}`);
  assertResourceTypes(inputs.map((i) => i.type));
  const seen = new Set<string>();
  for (const input of inputs) {
    if (input.type === 'SearchParameter')
      throw new Error('AHDS $import refuses SearchParameter: copy them through the REST API, then $reindex');
    let url: URL;
    try {
      url = new URL(input.url);
    } catch {
      throw new Error(`$import input (${input.type}) is not an absolute URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new Error(`$import input (${input.type}) is not an http(s) URL`);
    if (url.search !== '')
      throw new Error(
        `$import input ${redactUrl(input.url)} has a query string: AHDS refuses SAS URLs and reads the blob with its managed identity`,
      );
    if (seen.has(url.href)) throw new Error(`$import input ${url.href} is listed twice`);
    seen.add(url.href);
  }
  return JSON.stringify({
    resourceType: 'Parameters',
    parameter: [
      { name: 'inputFormat', valueString: 'application/fhir+ndjson' },
      { name: 'mode', valueString: options.mode ?? 'IncrementalLoad' },
      ...inputs.map((input) => ({
        name: 'input',
        part: [
          { name: 'type', valueString: input.type },
          { name: 'url', valueUri: input.url },
          ...(input.etag ? [{ name: 'etag', valueString: input.etag }] : []),
        ],
      })),
    ],
  });
}

const completedSchema = z.object({
  output: z
    .array(z.object({ type: z.string().optional(), count: z.number(), inputUrl: z.string() }))
    .default([]),
  error: z
    .array(
      z.object({
        type: z.string().optional(),
        count: z.number(),
        inputUrl: z.string(),
        url: z.string().optional(),
      }),
    )
    .default([]),
});

/** The completed reply as a report: per input URL, resources stored and failed, and the error files. */
export function ahdsImportReport(body: string): ImportReport {
  let parsed: z.infer<typeof completedSchema>;
  try {
    parsed = completedSchema.parse(JSON.parse(body));
  } catch (err) {
    throw new Error(
      `the $import status reply is not the documented completed shape: ${(err as Error).message.slice(0, 200)}`,
    );
  }
  const files = new Map<string, ImportFileReport>();
  const fileOf = (inputUrl: string) => {
    let file = files.get(inputUrl);
    if (!file) {
      file = { url: inputUrl, outcomes: {}, succeeded: 0, failed: 0, errors: [] };
      files.set(inputUrl, file);
    }
    return file;
  };
  for (const o of parsed.output) {
    const file = fileOf(o.inputUrl);
    file.succeeded += o.count;
    file.outcomes.imported = (file.outcomes.imported ?? 0) + o.count;
  }
  for (const e of parsed.error) {
    const file = fileOf(e.inputUrl);
    file.failed += e.count;
    file.outcomes.failed = (file.outcomes.failed ?? 0) + e.count;
    if (e.url) {
      file.errors.push(`${e.count} failed; details in ${redactUrl(e.url)}`);
      // Not enumerable: the URLs may carry a SAS, and a report serialised anywhere must not hold them.
      if (!file.errorFiles) Object.defineProperty(file, 'errorFiles', { value: [], enumerable: false });
      file.errorFiles?.push(e.url);
    }
  }
  return { files: [...files.values()], raw: redactText(body) };
}

export function createAhdsImportDialect(
  client: FhirClient,
  options: AhdsImportOptions = {},
): BulkImportDialect {
  const now = options.now ?? Date.now;
  return {
    name: 'ahds',
    async submit(inputs) {
      const { res, location, jobUrl } = await postImport(client, ahdsImportParameters(inputs, options), {
        // Registration is idempotent on the body's hash: a resend finds the same job.
        idempotent: true,
        throwOnError: false,
      });
      if (jobUrl) return { jobUrl };
      const outcome = parseOperationOutcome(res.body);
      throw new FhirHttpError({
        kind: 'protocol',
        method: 'POST',
        url: res.url,
        status: res.status,
        attempts: res.attempts,
        // 423: the service is in initial-import mode; it takes incremental work again once that ends.
        retryable: res.status === 423 || res.status === 429 || res.status >= 500,
        detail:
          res.status === 423
            ? 'the destination is in initial import mode (423 Locked): incremental imports wait until it is switched off'
            : `$import answered ${res.status}${location ? '' : ' without Content-Location'}, expected 202${outcome ? `: ${summarizeOutcome(outcome)}` : ''}`,
      });
    },

    async poll(jobUrl): Promise<ImportPoll> {
      const reply = await getJobStatus(client, jobUrl, {
        allowedOrigins: [client.origin],
        accept: 'application/fhir+json',
        now,
        // The service holds the completed reply back by up to ~60 s.
        timeoutMs: options.pollTimeoutMs ?? 120_000,
      });
      if (reply.state === 'running') return reply;
      const { res, outcome } = reply;
      if (res.status === 200) {
        // A 200 with error[] is a partial success: the importer sees the failures in the report.
        return { state: 'completed', report: ahdsImportReport(res.body) };
      }
      const detail = outcome ? summarizeOutcome(outcome) : truncate(redactText(res.body.trim()), 500);
      const what =
        res.status === 404
          ? 'import job not found'
          : res.status === 400
            ? 'import job cancelled or its input refused (HTTP 400)'
            : `import job failed (HTTP ${res.status})`;
      return { state: 'failed', reason: detail ? `${what}: ${detail}` : what };
    },

    async readErrors(errorFileUrl) {
      assertAllowedOrigin(errorFileUrl, [client.origin, ...(options.storageAuth?.origins ?? [])]);
      const { headers, auth } = await fileRequestAuth(errorFileUrl, options.storageAuth, undefined);
      const res = await client.text({ url: errorFileUrl, headers, ...(auth !== undefined ? { auth } : {}) });
      return parseAhdsErrorFile(res.body);
    },
  };
}

/**
 * An AHDS import error file: NDJSON OperationOutcomes whose diagnostics say "Failed to process resource at
 * line: N with stream start offset: M" and whose details text says why. Lines it cannot read are kept as
 * reasons without a line, never dropped.
 */
export function parseAhdsErrorFile(body: string): ImportErrorLine[] {
  const errors: ImportErrorLine[] = [];
  for (const text of body.split('\n')) {
    if (!text.trim()) continue;
    let outcome: unknown;
    try {
      outcome = JSON.parse(text);
    } catch {
      errors.push({ reason: `unreadable error line: ${truncate(redactText(text), 200)}` });
      continue;
    }
    const issue = (outcome as { issue?: { diagnostics?: string; details?: { text?: string } }[] }).issue?.[0];
    const line = /at line:\s*(\d+)/.exec(issue?.diagnostics ?? '')?.[1];
    const reason = issue?.details?.text ?? issue?.diagnostics ?? truncate(redactText(text), 200);
    errors.push({
      ...(line !== undefined ? { line: Number(line) } : {}),
      reason: truncate(redactText(reason), 500),
    });
  }
  return errors;
}
