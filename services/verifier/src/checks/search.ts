/**
 * Reading from a FHIR server for the checks: paged searches that follow `next` links (same origin only, so a
 * server's reply cannot send our credentials elsewhere) and single reads. Bodies are parsed losslessly, so a
 * decimal such as 37.0000000000000000000 is compared and hashed exactly as the server wrote it.
 */
import type { FhirClient } from '@fhir-migrate/shared/adapters/fhir-http/client.ts';
import {
  parseOperationOutcome,
  summarizeOutcome,
} from '@fhir-migrate/shared/adapters/fhir-http/operation-outcome.ts';
import { assertAllowedOrigin } from '@fhir-migrate/shared/adapters/fhir-http/origin.ts';
import { parseLossless } from '@fhir-migrate/shared/domain/canonical.ts';
import { isLosslessNumber } from 'lossless-json';
import { z } from 'zod';
import { CheckError, type CheckErrorContext, withContext } from './errors.ts';
import { type Ref, refPath } from './query.ts';
import type { Side } from './types.ts';

export type Resource = Record<string, unknown> & { resourceType: string; id: string };

export interface SearchPage {
  /** The absolute URL of this page (not redacted: pass it through redactUrl before showing it). */
  url: string;
  /** UTF-8 bytes of the reply body. */
  bytes: number;
  /** The page's matches of the searched type, parsed losslessly. */
  resources: Resource[];
  /** Bundle.total when the server sent it. */
  total?: number;
}

const fhirJson = { accept: 'application/fhir+json', 'cache-control': 'no-cache' };

const bundleSchema = z.looseObject({
  resourceType: z.literal('Bundle'),
  total: z.unknown().optional(),
  link: z.array(z.looseObject({ relation: z.string(), url: z.string() })).default([]),
  entry: z
    .array(
      z.looseObject({
        resource: z.unknown().optional(),
        search: z.looseObject({ mode: z.string().optional() }).optional(),
      }),
    )
    .default([]),
});

/**
 * Yields the pages of `GET {path}` and every page its `next` links lead to. Entries that are not matches
 * (`_include`d resources, OperationOutcomes) and resources of another type are left out.
 */
export async function* searchPages(
  client: FhirClient,
  side: Side,
  check: string,
  type: string,
  path: string,
  signal?: AbortSignal,
): AsyncGenerator<SearchPage> {
  const seen = new Set<string>();
  let url: string | undefined = client.resolve(path);
  while (url !== undefined) {
    const context = { check, side, type, url };
    if (seen.has(url)) throw new CheckError(context, 'the server sent a next link to a page already read');
    seen.add(url);
    let body: string;
    try {
      body = (await client.text({ url, headers: fhirJson, ...(signal ? { signal } : {}) })).body;
    } catch (error) {
      throw withContext(context, error);
    }
    const page = parsePage(body, type, context);
    yield { url, bytes: Buffer.byteLength(body, 'utf8'), resources: page.resources, ...page.extra };
    if (page.next === undefined) return;
    try {
      url = assertAllowedOrigin(new URL(page.next, url).href, [client.baseUrl]).href;
    } catch (error) {
      throw withContext(context, error);
    }
  }
}

function parsePage(
  body: string,
  type: string,
  context: CheckErrorContext,
): { resources: Resource[]; next?: string; extra: { total?: number } } {
  let value: unknown;
  try {
    value = parseLossless(body);
  } catch {
    throw new CheckError(context, 'the search reply is not valid JSON');
  }
  const parsed = bundleSchema.safeParse(value);
  if (!parsed.success) throw new CheckError(context, 'the search reply is not a Bundle');
  const resources: Resource[] = [];
  for (const entry of parsed.data.entry) {
    const mode = entry.search?.mode;
    if (mode !== undefined && mode !== 'match') continue;
    if (isResource(entry.resource) && entry.resource.resourceType === type) resources.push(entry.resource);
  }
  const total = parsed.data.total;
  const count = isLosslessNumber(total) ? Number(total.value) : typeof total === 'number' ? total : undefined;
  const next = parsed.data.link.find((l) => l.relation === 'next')?.url;
  return {
    resources,
    ...(next ? { next } : {}),
    extra: count !== undefined && Number.isSafeInteger(count) && count >= 0 ? { total: count } : {},
  };
}

export type ReadResult =
  | { status: 200; text: string; resource: Resource }
  | { status: 404 | 410; text?: undefined; resource?: undefined };

/** Reads `Type/id`: the resource (its exact text and lossless parse), or that it is gone (404/410). */
export async function readResource(
  client: FhirClient,
  side: Side,
  check: string,
  ref: Ref,
): Promise<ReadResult> {
  const url = client.resolve(refPath(ref));
  const context = { check, side, type: ref.type, url };
  let res: Awaited<ReturnType<FhirClient['text']>>;
  try {
    res = await client.text({ url, headers: fhirJson, throwOnError: false });
  } catch (error) {
    throw withContext(context, error);
  }
  if (res.status === 404 || res.status === 410) return { status: res.status };
  if (res.status !== 200) {
    const outcome = parseOperationOutcome(res.body);
    const detail = outcome ? `: ${summarizeOutcome(outcome, 300)}` : '';
    throw new CheckError(context, `read answered HTTP ${res.status}${detail}`);
  }
  let value: unknown;
  try {
    value = parseLossless(res.body);
  } catch {
    throw new CheckError(context, 'the read reply is not valid JSON');
  }
  if (!isResource(value) || value.resourceType !== ref.type || value.id !== ref.id) {
    throw new CheckError(context, `the read reply is not the ${ref.type} asked for`);
  }
  return { status: 200, text: res.body, resource: value };
}

export function isResource(value: unknown): value is Resource {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    'resourceType' in value &&
    typeof value.resourceType === 'string' &&
    'id' in value &&
    typeof value.id === 'string'
  );
}

/** meta.lastUpdated as written, when the resource has one. */
export function lastUpdatedOf(resource: Resource): string | undefined {
  const meta = resource.meta;
  if (typeof meta !== 'object' || meta === null || !('lastUpdated' in meta)) return undefined;
  return typeof meta.lastUpdated === 'string' ? meta.lastUpdated : undefined;
}
