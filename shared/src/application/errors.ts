/** Turning errors into ledger reasons: typed, redacted, short, with no resource content. */
import { isFhirHttpError } from '../adapters/fhir-http/errors.ts';
import { redactText } from '../adapters/fhir-http/redact.ts';

export function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return redactText(message).slice(0, 1000);
}

/** Whether trying again later could succeed: the FHIR client knows for HTTP errors; anything else may be transient. */
export function isRetryable(err: unknown): boolean {
  return isFhirHttpError(err) ? err.retryable : true;
}
