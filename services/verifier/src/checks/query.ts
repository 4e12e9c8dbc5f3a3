/**
 * The small pieces of URL-building every check shares: the scope's filter, resource type names and
 * `Type/id` references, each validated so nothing untrusted is pasted into a URL as it is.
 */

const typePattern = /^[A-Z][A-Za-z]{1,63}$/;
const idPattern = /^[A-Za-z0-9\-.]{1,64}$/;

/** Parameters the checks set themselves; a filter that also set them would change what a check reads. */
const reserved = new Set(['_count', '_summary', '_elements', '_total', '_format', '_include', '_revinclude']);

export function isResourceType(type: string): boolean {
  return typePattern.test(type);
}

export function assertResourceType(type: string): void {
  if (!typePattern.test(type))
    throw new Error(`not a FHIR resource type name: ${JSON.stringify(type.slice(0, 64))}`);
}

/**
 * The filter as a query string fit to append with `&`. It is read the way a server reads a query (so `+` is a
 * space and `%7C` is `|`) and re-encoded, so a `|` or a space typed into it cannot break the request line.
 */
export function normalizeFilter(filter: string | undefined): string {
  const text = (filter ?? '').trim().replace(/^[?&]+/, '');
  if (text === '') return '';
  const params = new URLSearchParams(text);
  for (const name of params.keys()) {
    if (reserved.has(name))
      throw new Error(`the check filter may not set ${name} (the check sets it itself)`);
  }
  return params.toString();
}

/** `base?first&filter`, leaving out empty parts. */
export function withQuery(path: string, ...parts: string[]): string {
  const query = parts.filter((p) => p !== '').join('&');
  return query ? `${path}?${query}` : path;
}

export interface Ref {
  type: string;
  id: string;
}

/** Parses `Type/id`; undefined when it is not a safe reference. */
export function parseRef(ref: string): Ref | undefined {
  const slash = ref.indexOf('/');
  if (slash < 0) return undefined;
  const type = ref.slice(0, slash);
  const id = ref.slice(slash + 1);
  return typePattern.test(type) && idPattern.test(id) ? { type, id } : undefined;
}

export function refPath(ref: Ref): string {
  return `${ref.type}/${encodeURIComponent(ref.id)}`;
}
