/**
 * SSRF guard for URLs that come from a server's reply (bulk-export manifest file URLs, status URLs): they may
 * only be fetched from the source's own origin or from explicitly configured extra origins (e.g. the
 * storage account an Azure export writes to).
 */
import { DisallowedOriginError } from './errors.ts';
import { redactUrl } from './redact.ts';

/**
 * Throws {@link DisallowedOriginError} (naming the redacted URL) unless `url` is an absolute http(s) URL
 * whose origin (scheme, host and port) equals the origin of one of `allowedOrigins`. Entries of
 * `allowedOrigins` may be origins or any URL on that origin (e.g. a FHIR base URL).
 */
export function assertAllowedOrigin(url: string, allowedOrigins: readonly string[]): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DisallowedOriginError(url, 'not an absolute URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new DisallowedOriginError(url, `scheme ${parsed.protocol} is not allowed`);
  }
  const allowed = new Set(allowedOrigins.map(originOf));
  if (!allowed.has(parsed.origin)) {
    throw new DisallowedOriginError(url, `origin ${parsed.origin} is not one of the allowed origins`);
  }
  return parsed;
}

/** The origin (`scheme://host:port`, default port omitted, host lower-cased) of a URL or origin string. */
export function originOf(urlOrOrigin: string): string {
  const { origin } = new URL(urlOrOrigin);
  if (origin === 'null') throw new Error(`not an http(s) origin: ${redactUrl(urlOrOrigin)}`);
  return origin;
}
