/**
 * Comparing a resource as staged with the same resource read back from another server. JSON is parsed
 * losslessly (FHIR decimals keep every digit and trailing zero); what a destination legitimately rewrites
 * (meta.versionId, meta.lastUpdated) is ignored. The result names the JSON paths that differ.
 */
import { isLosslessNumber, parse } from 'lossless-json';

const ignoredMeta = new Set(['versionId', 'lastUpdated']);

export function parseLossless(text: string): unknown {
  return parse(text);
}

/** JSON paths (like `name[0].family`) where `a` and `b` differ, ignoring the rewritten meta fields. */
export function differingPaths(a: unknown, b: unknown, limit = 20): string[] {
  const out: string[] = [];
  walk(strip(a), strip(b), '', out, limit);
  return out;
}

function strip(resource: unknown): unknown {
  if (!isObject(resource) || !isObject(resource.meta)) return resource;
  const meta = Object.fromEntries(Object.entries(resource.meta).filter(([k]) => !ignoredMeta.has(k)));
  const { meta: _m, ...rest } = resource;
  return Object.keys(meta).length > 0 ? { ...rest, meta } : rest;
}

function walk(a: unknown, b: unknown, path: string, out: string[], limit: number): void {
  if (out.length >= limit) return;
  if (isLosslessNumber(a) || isLosslessNumber(b)) {
    if (!(isLosslessNumber(a) && isLosslessNumber(b) && a.value === b.value)) out.push(path || '(root)');
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${path}.length`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) walk(a[i], b[i], `${path}[${i}]`, out, limit);
    return;
  }
  if (isObject(a) && isObject(b)) {
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      walk(a[key], b[key], path ? `${path}.${key}` : key, out, limit);
    }
    return;
  }
  if (a !== b) out.push(path || '(root)');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isLosslessNumber(v);
}
