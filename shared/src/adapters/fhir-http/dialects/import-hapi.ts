/**
 * HAPI FHIR `$import` (job BULK_IMPORT_PULL): a Parameters body naming NDJSON URLs that the server fetches
 * itself, polled at `$import-poll-status?_jobId=…`. HAPI keeps ids but assigns its own versionId and
 * lastUpdated. Poll replies: 202 while queued/running (X-Progress, Retry-After), 200 with the report in an
 * OperationOutcome when completed (served as ISO-8859-1; the client decodes by charset), 500 "Job is in
 * FAILED state …" with the report as a second issue, 404 when cancelled or unknown.
 */
import type { FhirClient } from '../client.ts';
import { FhirHttpError } from '../errors.ts';
import { type OperationOutcome, summarizeOutcome, truncate } from '../operation-outcome.ts';
import { redactText } from '../redact.ts';
import { assertResourceTypes } from './export-common.ts';
import { extractReportText, parseBulkImportReport } from './import-report.ts';
import { postImport } from './import-submit.ts';
import { getJobStatus } from './job-status.ts';
import type { BulkImportDialect, ImportInput, ImportPoll, ImportReport } from './types.ts';

export interface HapiImportOptions {
  /** `storageDetail.maxBatchResourceCount`: resources per stored batch (HAPI's default is 800). */
  maxBatchResourceCount?: number;
  now?: () => number;
}

/** The `$import` Parameters body (built with JSON.stringify: it holds no resources). */
export function hapiImportParameters(
  inputs: readonly ImportInput[],
  options: HapiImportOptions = {},
): string {
  if (inputs.length === 0) throw new Error('$import needs at least one input');
  assertResourceTypes(inputs.map((i) => i.type));
  for (const input of inputs) {
    // HAPI fetches with its own HTTP client and accepts only http(s) URLs.
    if (!/^https?:\/\//i.test(input.url))
      throw new Error(`$import input is not an http(s) URL (${input.type})`);
  }
  const parameter: object[] = [{ name: 'inputFormat', valueCode: 'application/fhir+ndjson' }];
  if (options.maxBatchResourceCount !== undefined) {
    if (!Number.isInteger(options.maxBatchResourceCount) || options.maxBatchResourceCount < 1) {
      throw new Error('maxBatchResourceCount must be a positive integer');
    }
    parameter.push({
      name: 'storageDetail',
      part: [
        { name: 'type', valueCode: 'https' },
        { name: 'maxBatchResourceCount', valueString: String(options.maxBatchResourceCount) },
      ],
    });
  }
  for (const input of inputs) {
    parameter.push({
      name: 'input',
      part: [
        { name: 'type', valueCode: input.type },
        { name: 'url', valueUri: input.url },
      ],
    });
  }
  return JSON.stringify({ resourceType: 'Parameters', parameter });
}

/** The first import report found in an OperationOutcome's issues, parsed. */
export function reportFromOutcome(outcome: OperationOutcome | undefined): ImportReport | undefined {
  for (const issue of outcome?.issue ?? []) {
    const text = issue.diagnostics === undefined ? undefined : extractReportText(issue.diagnostics);
    if (text !== undefined) return parseBulkImportReport(text);
  }
  return undefined;
}

export function createHapiImportDialect(
  client: FhirClient,
  options: HapiImportOptions = {},
): BulkImportDialect {
  const now = options.now ?? Date.now;
  return {
    name: 'hapi',
    async submit(inputs) {
      const { res, location, jobUrl } = await postImport(client, hapiImportParameters(inputs, options));
      if (!jobUrl) {
        throw new FhirHttpError({
          kind: 'protocol',
          method: 'POST',
          url: res.url,
          status: res.status,
          attempts: res.attempts,
          retryable: false,
          detail: `$import answered ${res.status}${location ? '' : ' without Content-Location'}, expected 202`,
        });
      }
      return { jobUrl };
    },

    async poll(jobUrl): Promise<ImportPoll> {
      const reply = await getJobStatus(client, jobUrl, {
        allowedOrigins: [client.origin],
        accept: 'application/fhir+json',
        now,
      });
      if (reply.state === 'running') return reply;
      const { res, outcome } = reply;
      const report = reportFromOutcome(outcome);
      if (res.status === 200) {
        return { state: 'completed', report: report ?? { files: [], raw: redactText(res.body) } };
      }
      const first = outcome?.issue[0]?.diagnostics;
      const detail =
        first !== undefined && extractReportText(first) === undefined
          ? truncate(redactText(first), 1000)
          : outcome
            ? summarizeOutcome(outcome)
            : truncate(redactText(res.body.trim()), 500);
      const what =
        res.status === 404 ? 'import job not found or cancelled' : `import job failed (HTTP ${res.status})`;
      return { state: 'failed', reason: detail ? `${what}: ${detail}` : what, ...(report ? { report } : {}) };
    },
  };
}
