/** Turning errors into ledger reasons: typed, redacted, short, with no resource content. */
import { isFhirHttpError } from '../adapters/fhir-http/errors.ts';
import { redactText } from '../adapters/fhir-http/redact.ts';

/**
 * A reason fit for the ledger, logs and the API: secrets redacted, and quoted values blanked, because
 * servers quote resource content in their diagnostics (HAPI: `Invalid attribute value "…"`). The file and
 * line recorded beside a reason lead to the content itself.
 */
export function sanitizeReason(text: string, maxLength = 1000): string {
  return redactText(text)
    .replace(/"(?:[^"\\]|\\.){1,}"/g, '"…"')
    .replace(/'(?:[^'\\\s]|\\.)(?:[^'\\]|\\.){0,200}'/g, "'…'")
    .slice(0, maxLength);
}

export function reasonOf(err: unknown): string {
  return sanitizeReason(err instanceof Error ? err.message : String(err));
}

/** Whether trying again later could succeed: the FHIR client knows for HTTP errors; anything else may be transient. */
export function isRetryable(err: unknown): boolean {
  return isFhirHttpError(err) ? err.retryable : true;
}
