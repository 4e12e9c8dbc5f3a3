/**
 * The one error type of the FHIR client. It carries what callers need to decide (status, kind, retryable,
 * the server's OperationOutcome) and nothing that could leak a secret: the URL is redacted, request headers
 * and bodies are never kept, and the outcome's strings are redacted too.
 */
import { type OperationOutcome, redactDeep, summarizeOutcome, truncate } from './operation-outcome.ts';
import { redactText, redactUrl } from './redact.ts';

/**
 * - `http`: the server answered with an error status (after any retries);
 * - `network`: connection refused/reset, DNS, socket closed mid-response;
 * - `timeout`: no headers, or no body data, within the configured time;
 * - `aborted`: the caller's AbortSignal fired;
 * - `protocol`: the server answered successfully but not as the protocol requires (missing header, bad JSON).
 */
export type FhirHttpErrorKind = 'http' | 'network' | 'timeout' | 'aborted' | 'protocol';

export interface FhirHttpErrorInit {
  kind: FhirHttpErrorKind;
  method: string;
  url: string | URL;
  status?: number;
  code?: string;
  outcome?: OperationOutcome;
  /** A short excerpt of a non-OperationOutcome error body (redacted and truncated here). */
  body?: string;
  attempts: number;
  retryable: boolean;
  detail?: string;
  cause?: unknown;
}

export class FhirHttpError extends Error {
  override readonly name = 'FhirHttpError';
  readonly kind: FhirHttpErrorKind;
  readonly method: string;
  /** The request URL with secrets masked. */
  readonly url: string;
  readonly status: number | undefined;
  /** A transport error code such as ECONNRESET or UND_ERR_HEADERS_TIMEOUT. */
  readonly code: string | undefined;
  /** The server's OperationOutcome, when the error body was one (strings redacted). */
  readonly outcome: OperationOutcome | undefined;
  readonly bodyExcerpt: string | undefined;
  /** How many times the request was sent. */
  readonly attempts: number;
  /** Whether trying again later could succeed (transient status or transport problem). */
  readonly retryable: boolean;

  constructor(init: FhirHttpErrorInit) {
    const url = redactUrl(init.url);
    const outcome = init.outcome ? redactDeep(init.outcome) : undefined;
    const bodyExcerpt = init.body ? truncate(redactText(init.body), 500) : undefined;
    const what =
      init.status !== undefined
        ? `HTTP ${init.status}`
        : init.kind === 'protocol'
          ? 'an invalid response'
          : `${init.kind}${init.code ? ` ${init.code}` : ''}`;
    const detail = outcome
      ? summarizeOutcome(outcome)
      : init.detail
        ? truncate(redactText(init.detail), 500)
        : bodyExcerpt;
    const attempts = `${init.attempts} attempt${init.attempts === 1 ? '' : 's'}`;
    super(`${init.method} ${url} failed with ${what} after ${attempts}${detail ? `: ${detail}` : ''}`, {
      cause: init.cause,
    });
    this.kind = init.kind;
    this.method = init.method;
    this.url = url;
    this.status = init.status;
    this.code = init.code;
    this.outcome = outcome;
    this.bodyExcerpt = bodyExcerpt;
    this.attempts = init.attempts;
    this.retryable = init.retryable;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: this.message,
      kind: this.kind,
      method: this.method,
      url: this.url,
      status: this.status,
      code: this.code,
      attempts: this.attempts,
      retryable: this.retryable,
      outcome: this.outcome,
    };
  }
}

export function isFhirHttpError(error: unknown): error is FhirHttpError {
  return error instanceof FhirHttpError;
}

/** A URL that the client refuses to fetch (SSRF guard). */
export class DisallowedOriginError extends Error {
  override readonly name = 'DisallowedOriginError';
  /** The refused URL with secrets masked. */
  readonly url: string;

  constructor(url: string, reason: string) {
    const redacted = redactUrl(url);
    super(`refusing to fetch ${redacted}: ${reason}`);
    this.url = redacted;
  }
}
