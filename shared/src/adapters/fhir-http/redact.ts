/**
 * Secret redaction for URLs, headers and free text. Every error message and log record of the FHIR client
 * goes through these functions: SAS tokens, OAuth codes and tokens, passwords, API keys and userinfo are
 * replaced by `REDACTED`, so a URL or header can be logged without leaking credentials.
 */

export const REDACTED = 'REDACTED';

/** Query parameters whose values are secrets (compared case-insensitively). */
const secretQueryParams = new Set([
  // Azure Storage SAS
  'sig',
  'se',
  'st',
  'sp',
  'sv',
  'sr',
  'skoid',
  'sktid',
  'skt',
  'ske',
  'sks',
  'skv',
  'spr',
  'srt',
  'ss',
  // OAuth and generic credentials
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'client_assertion',
  'assertion',
  'code',
  'client_secret',
  'password',
  'api_key',
  'apikey',
  'key',
  // Azure connection strings (Storage, Service Bus, Cosmos DB): `…;AccountKey=…;`
  'accountkey',
  'sharedaccesskey',
  'sharedaccesssignature',
]);

const secretHeaders = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'ocp-apim-subscription-key',
]);

export function isSecretQueryParam(name: string): boolean {
  return secretQueryParams.has(name.toLowerCase());
}

/**
 * Masks the values of secret query parameters and any userinfo (`user:pass@`) in a URL. The rest of the URL
 * is kept as written (no re-encoding), so the result still identifies the endpoint. Strings that are not
 * absolute URLs are treated as text (see {@link redactText}).
 */
export function redactUrl(url: string | URL): string {
  return redactText(typeof url === 'string' ? url : url.href);
}

/**
 * Redacts secrets that may appear anywhere in free text (error bodies, diagnostics, messages): secret query
 * parameters (`sig=…`, `access_token=…`), URL userinfo, and `Bearer`/`Basic` credentials.
 */
export function redactText(text: string): string {
  return (
    text
      // scheme://user:pass@host → scheme://REDACTED@host
      .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi, `$1${REDACTED}@`)
      // ?sig=… &token=… and also `password=…` in prose (after start, space, ( , or a quote)
      .replace(
        /(^|[?&;\s(,"'])([^=&#\s"'<>(),;?]+)=([^&#\s"'<>(),;]*)/g,
        (match, sep: string, name: string) =>
          isSecretQueryParam(safeDecode(name)) ? `${sep}${name}=${REDACTED}` : match,
      )
      // JSON members such as "access_token": "…" (token endpoint replies, echoed request bodies)
      .replace(
        /("(?:access_token|refresh_token|id_token|client_secret|client_assertion|password|token)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi,
        `$1"${REDACTED}"`,
      )
      // Authorization-style credentials
      .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/g, `$1 ${REDACTED}`)
  );
}

/** Returns a copy of `headers` with the values of credential-carrying headers masked. */
export function redactHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = secretHeaders.has(name.toLowerCase()) && value !== undefined ? REDACTED : value;
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
