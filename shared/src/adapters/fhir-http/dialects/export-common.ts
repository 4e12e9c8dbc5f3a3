/**
 * The parts of the Bulk Data export protocol every export dialect shares: kick-off reply, status polling,
 * manifest validation, file download behind the SSRF guard, and cancellation.
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { AuthProvider } from '../auth.ts';
import { discard } from '../body.ts';
import type { FhirClient } from '../client.ts';
import { FhirHttpError } from '../errors.ts';
import { parseOperationOutcome, summarizeOutcome, truncate } from '../operation-outcome.ts';
import { assertAllowedOrigin } from '../origin.ts';
import { redactText } from '../redact.ts';
import { getJobStatus } from './job-status.ts';
import type { ExportDialect, ExportManifest, ExportPoll, ExportWindow, OpenFileOptions } from './types.ts';

export interface ExportDialectOptions {
  /** Origins besides the source's own that manifest file URLs may point to (e.g. a storage account). */
  allowedFileOrigins?: string[];
  /**
   * bulkdata only: send both window bounds inside `_typeFilter` (`_lastUpdated=ge…&_lastUpdated=lt…`) and no
   * `_since`. Needed for servers that replace a typeFilter's `_lastUpdated` with `_since`, as HAPI does.
   */
  boundsInTypeFilter?: boolean;
  /**
   * Files on a storage account (Azure `$export` writes to Blob Storage and says `requiresAccessToken: false`):
   * downloads from these origins carry this auth's headers (a Blob Storage token) instead of the source's.
   * The origins are allowed file origins too.
   */
  storageAuth?: StorageAuth;
  now?: () => number;
}

/** Auth for files on a storage account (a Blob Storage token), and the origins it applies to. */
export interface StorageAuth {
  origins: readonly string[];
  auth: AuthProvider;
}

/** The Blob Storage REST version sent with a bearer token (tokens need 2017-11-09 or later). */
export const blobApiVersion = '2021-08-06';

/**
 * How to GET a file that may be on a storage account: there, with the storage token (and `x-ms-version`)
 * instead of the FHIR server's auth; elsewhere, with no extra headers and `otherwise` as the request's
 * `auth` (undefined: the FHIR client's default, its own origin only).
 */
export async function fileRequestAuth(
  url: string,
  storageAuth: StorageAuth | undefined,
  otherwise: boolean | undefined,
): Promise<{ headers: Record<string, string>; auth?: boolean }> {
  if (storageAuth?.origins.includes(new URL(url).origin))
    return {
      headers: { ...(await storageAuth.auth.headers()), 'x-ms-version': blobApiVersion },
      auth: false,
    };
  return { headers: {}, ...(otherwise !== undefined ? { auth: otherwise } : {}) };
}

const ndjsonMediaType = 'application/fhir+ndjson';

const fileSchema = z.object({
  type: z.string().min(1),
  url: z.string().min(1),
  count: z.number().int().nonnegative().optional(),
});

export const exportManifestSchema = z.object({
  transactionTime: z.string().min(1),
  // Required by the IG; when a server leaves it out, sending the token to an allowed origin is the safe guess.
  requiresAccessToken: z.boolean().default(true),
  output: z.array(fileSchema),
  deleted: z.array(fileSchema).default([]),
  error: z.array(fileSchema).default([]),
});

/** Validates a completed-export manifest; the error names the first problem (no file URLs, no content). */
export function parseExportManifest(
  body: unknown,
): { ok: true; manifest: ExportManifest } | { ok: false; reason: string } {
  const parsed = exportManifestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      reason: `invalid manifest: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? ''}`.trim(),
    };
  }
  const { transactionTime, requiresAccessToken, output, deleted, error } = parsed.data;
  const file = ({ type, url }: { type: string; url: string }) => ({ type, url });
  return {
    ok: true,
    manifest: {
      transactionTime,
      requiresAccessToken,
      output: output.map((o) => (o.count === undefined ? file(o) : { ...file(o), count: o.count })),
      deleted: deleted.map(file),
      error: error.map(file),
    },
  };
}

/** Sends an export kick-off (`Prefer: respond-async`) and returns the absolute status URL. */
export async function kickOffExport(client: FhirClient, url: string): Promise<{ statusUrl: string }> {
  const res = await client.text({
    method: 'GET',
    url,
    headers: { accept: 'application/fhir+json', prefer: 'respond-async', 'cache-control': 'no-cache' },
    // A kick-off creates a job: resending it after an ambiguous failure could start a second one.
    idempotent: false,
  });
  const location = res.headers['content-location'];
  if (res.status !== 202 || !location) {
    throw new FhirHttpError({
      kind: 'protocol',
      method: 'GET',
      url: res.url,
      status: res.status,
      attempts: res.attempts,
      retryable: false,
      detail: `export kick-off answered ${res.status}${location ? '' : ' without Content-Location'}, expected 202`,
    });
  }
  return { statusUrl: new URL(location, res.url).href };
}

/**
 * One status poll: 202 → running (Retry-After, X-Progress), 200 → completed with a validated manifest,
 * 404/410 → failed 'job not found', 429 → running (slow down), other 4xx and 500 → failed with the
 * OperationOutcome's diagnostics. 502/503/504 left after the client's retries throw a retryable error:
 * a gateway hiccup says nothing about the job.
 */
export async function pollExport(
  client: FhirClient,
  statusUrl: string,
  allowedOrigins: readonly string[],
  now: () => number = Date.now,
): Promise<ExportPoll> {
  const reply = await getJobStatus(client, statusUrl, { allowedOrigins, accept: 'application/json', now });
  if (reply.state === 'running') return reply;
  const { res, outcome } = reply;
  if (res.status === 200) {
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      return { state: 'failed', reason: 'invalid manifest: the reply is not JSON' };
    }
    const parsed = parseExportManifest(body);
    return parsed.ok
      ? { state: 'completed', manifest: parsed.manifest }
      : { state: 'failed', reason: parsed.reason };
  }
  if (res.status === 404 || res.status === 410) {
    return { state: 'failed', reason: 'job not found', ...(outcome ? { outcome } : {}) };
  }
  const detail = outcome ? summarizeOutcome(outcome) : truncate(redactText(res.body.trim()), 500);
  return {
    state: 'failed',
    reason: `export job failed (HTTP ${res.status})${detail ? `: ${detail}` : ''}`,
    ...(outcome ? { outcome } : {}),
  };
}

/**
 * Streams a manifest file after the SSRF check. `Accept: application/fhir+ndjson` makes HAPI serve a
 * Binary's raw content; a FHIR JSON reply (the Binary resource itself) is refused.
 */
export async function openExportFile(
  client: FhirClient,
  url: string,
  allowedOrigins: readonly string[],
  options: OpenFileOptions = {},
  storageAuth?: StorageAuth,
): Promise<Readable> {
  assertAllowedOrigin(url, allowedOrigins);
  const { headers, auth } = await fileRequestAuth(url, storageAuth, options.requiresAccessToken ?? true);
  const res = await client.stream({
    url,
    headers: { accept: ndjsonMediaType, ...headers },
    ...(auth !== undefined ? { auth } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const contentType = res.headers['content-type'] ?? '';
  if (/^application\/(fhir\+json|json\+fhir)/i.test(contentType)) {
    discard(res.body);
    throw new FhirHttpError({
      kind: 'protocol',
      method: 'GET',
      url,
      status: res.status,
      attempts: res.attempts,
      retryable: false,
      detail: `expected NDJSON, got ${contentType}`,
    });
  }
  return res.body;
}

/** DELETE on the status URL; 2xx, 404 and 410 all mean the job is gone. */
export async function cancelExport(
  client: FhirClient,
  statusUrl: string,
  allowedOrigins: readonly string[],
): Promise<void> {
  assertAllowedOrigin(statusUrl, allowedOrigins);
  const res = await client.text({ method: 'DELETE', url: statusUrl, throwOnError: false });
  if (res.status < 300 || res.status === 404 || res.status === 410) return;
  const outcome = parseOperationOutcome(res.body);
  throw new FhirHttpError({
    kind: 'http',
    method: 'DELETE',
    url: statusUrl,
    status: res.status,
    attempts: res.attempts,
    retryable: res.status >= 500 || res.status === 429,
    ...(outcome ? { outcome } : { body: res.body }),
  });
}

const resourceTypeName = /^[A-Z][A-Za-z]{1,63}$/;

/** Throws unless every entry is a plausible resource type name (they end up in URLs). */
export function assertResourceTypes(types: readonly string[]): void {
  for (const type of types) {
    if (!resourceTypeName.test(type)) throw new Error(`not a resource type name: ${JSON.stringify(type)}`);
  }
}

/** The origins manifest and status URLs may point to: the source's plus configured extras. */
export function exportOrigins(client: FhirClient, options: ExportDialectOptions): string[] {
  return [client.origin, ...(options.allowedFileOrigins ?? []), ...(options.storageAuth?.origins ?? [])];
}

/** An export dialect from the URL it builds for a window; kick-off, polling, files and cancel are shared. */
export function bulkExportDialect(
  name: ExportDialect['name'],
  client: FhirClient,
  exportUrl: (window: ExportWindow) => string,
  options: ExportDialectOptions,
): ExportDialect {
  const origins = exportOrigins(client, options);
  return {
    name,
    kickOff: (window) => kickOffExport(client, exportUrl(window)),
    poll: (statusUrl) => pollExport(client, statusUrl, origins, options.now),
    openFile: (url, fileOptions) => openExportFile(client, url, origins, fileOptions, options.storageAuth),
    cancel: (statusUrl) => cancelExport(client, statusUrl, origins),
  };
}
