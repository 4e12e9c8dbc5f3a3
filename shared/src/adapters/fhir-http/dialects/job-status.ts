/**
 * One GET of a bulk job's status URL, the part every export and import dialect shares: the SSRF check,
 * "still running" (202, and 429 — a throttled poll says nothing about the job), and gateway errors that
 * outlived the client's retries. What a final reply means (manifest, report, failure) is the dialect's.
 */
import type { FhirClient, FhirResponse } from '../client.ts';
import { FhirHttpError } from '../errors.ts';
import { type OperationOutcome, parseOperationOutcome } from '../operation-outcome.ts';
import { assertAllowedOrigin } from '../origin.ts';
import { redactText } from '../redact.ts';
import { parseRetryAfterMs } from '../retry.ts';

/** Longest server poll hint passed on; the poll schedule only ever shortens its own delay with it. */
const maxRetryAfterMs = 3_600_000;

export type JobStatusReply =
  | { state: 'running'; retryAfterMs?: number; progress?: string }
  | { state: 'answered'; res: FhirResponse<string>; outcome: OperationOutcome | undefined };

export async function getJobStatus(
  client: FhirClient,
  url: string,
  options: { allowedOrigins: readonly string[]; accept: string; now: () => number; timeoutMs?: number },
): Promise<JobStatusReply> {
  assertAllowedOrigin(url, options.allowedOrigins);
  const res = await client.text({
    url,
    headers: { accept: options.accept },
    throwOnError: false,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    // A 500 from a status endpoint reports a failed job (HAPI), so it is not retried. Nor is a 429: it is
    // answered as "running", and the poll schedule (not the client's backoff, which honours Retry-After up
    // to 60 s) decides when to ask again — an absurd Retry-After cost a minute per poll before.
    retryStatuses: [502, 503, 504],
  });
  if (res.status === 202 || res.status === 429) {
    const retryAfterMs = parseRetryAfterMs(res.headers, options.now(), maxRetryAfterMs);
    const progress = res.headers['x-progress'];
    return {
      state: 'running',
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ...(progress ? { progress: redactText(progress) } : {}),
    };
  }
  const outcome = parseOperationOutcome(res.body);
  if (res.status >= 502 && res.status <= 504) {
    // A gateway hiccup says nothing about the job: the caller counts an attempt and asks again later.
    throw new FhirHttpError({
      kind: 'http',
      method: 'GET',
      url,
      status: res.status,
      attempts: res.attempts,
      retryable: true,
      ...(outcome ? { outcome } : { body: res.body }),
    });
  }
  return { state: 'answered', res, outcome };
}
