/**
 * Test-side reconciliation of the resources a test wrote: each id is read from both servers and compared
 * canonically (lossless decimals; meta.versionId and meta.lastUpdated ignored, which $import rewrites).
 */
import { differingPaths, parseLossless } from '../../shared/src/domain/canonical.ts';

export interface Reconciliation {
  checked: number;
  missing: string[];
  differing: { ref: string; paths: string[] }[];
  /** Present on the destination although gone from the source. */
  extra: string[];
}

async function read(base: string, ref: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${base}/${ref}`, {
    headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
  });
  return { status: res.status, body: await res.text() };
}

export async function reconcile(
  sourceUrl: string,
  destinationUrl: string,
  current: Record<string, string[]>,
  deleted: Record<string, string[]> = {},
): Promise<Reconciliation> {
  const refs = Object.entries(current).flatMap(([type, ids]) => ids.map((id) => `${type}/${id}`));
  const result: Reconciliation = { checked: 0, missing: [], differing: [], extra: [] };
  for (let i = 0; i < refs.length; i += 16) {
    await Promise.all(
      refs.slice(i, i + 16).map(async (ref) => {
        const [src, dst] = await Promise.all([read(sourceUrl, ref), read(destinationUrl, ref)]);
        result.checked++;
        if (src.status !== 200) throw new Error(`${ref} is not readable on the source (HTTP ${src.status})`);
        if (dst.status !== 200) {
          result.missing.push(ref);
          return;
        }
        const paths = differingPaths(parseLossless(src.body), parseLossless(dst.body));
        if (paths.length > 0) result.differing.push({ ref, paths });
      }),
    );
  }
  for (const [type, ids] of Object.entries(deleted)) {
    for (const id of ids)
      if ((await read(destinationUrl, `${type}/${id}`)).status === 200) result.extra.push(`${type}/${id}`);
  }
  return result;
}
