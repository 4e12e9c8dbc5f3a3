/**
 * Comparing a resource as staged with the same resource read back from another server. JSON is parsed
 * losslessly (FHIR decimals keep every digit and trailing zero); what a destination legitimately rewrites
 * (meta.versionId, meta.lastUpdated) is ignored. The result names the JSON paths that differ; a canonical
 * string of the same content lets whole servers be compared by hash without holding the resources.
 */
import { isLosslessNumber, parse } from 'lossless-json';

const ignoredMeta = new Set(['versionId', 'lastUpdated']);

export function parseLossless(text: string): unknown {
  return parse(text);
}

/**
 * One text per content: keys sorted, numbers exactly as written (so 1.50 and 1.5 differ, as FHIR decimals do),
 * meta.versionId and meta.lastUpdated left out and a meta left empty by that dropped. Two resources have the
 * same canonical string exactly when {@link differingPaths} finds nothing between them, so a hash of it can
 * stand in for the resource when comparing whole servers.
 */
export function canonicalString(resource: unknown): string {
  const parts: string[] = [];
  write(strip(resource), parts);
  return parts.join('');
}

function write(value: unknown, out: string[]): void {
  if (isLosslessNumber(value)) {
    out.push(value.value);
  } else if (Array.isArray(value)) {
    out.push('[');
    value.forEach((item, i) => {
      if (i > 0) out.push(',');
      // JSON.stringify writes an absent array slot as null; so does this.
      write(item === undefined ? null : item, out);
    });
    out.push(']');
  } else if (isObject(value)) {
    out.push('{');
    let first = true;
    for (const key of Object.keys(value).sort()) {
      const item = value[key];
      // An undefined member is no member, as in differingPaths (which reads both as undefined).
      if (item === undefined) continue;
      out.push(first ? '' : ',', JSON.stringify(key), ':');
      first = false;
      write(item, out);
    }
    out.push('}');
  } else if (typeof value === 'number') {
    // Only a resource parsed without lossless-json holds plain numbers; they are written as JSON would.
    out.push(Number.isFinite(value) ? String(value) : 'null');
  } else if (typeof value === 'string' || typeof value === 'boolean' || value === null) {
    out.push(JSON.stringify(value));
  } else {
    out.push('null');
  }
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
