/**
 * Errors of the checks name where they happened (which server, which type, which URL with secrets masked)
 * and never what a resource holds: a server's diagnostics may quote content, so the underlying message is
 * passed through the same sanitiser as ledger reasons.
 */
import { redactUrl } from '@fhir-migrate/shared/adapters/fhir-http/redact.ts';
import { sanitizeReason } from '@fhir-migrate/shared/application/errors.ts';
import type { Side } from './types.ts';

export interface CheckErrorContext {
  check: string;
  side: Side;
  type?: string;
  url?: string;
}

export class CheckError extends Error {
  override readonly name = 'CheckError';
  readonly check: string;
  readonly side: Side;
  readonly type: string | undefined;
  /** The request URL with secrets masked. */
  readonly url: string | undefined;

  constructor(context: CheckErrorContext, detail: string, cause?: unknown) {
    const url = context.url ? redactUrl(context.url) : undefined;
    const where = [`the ${context.side}`, context.type, url ? `(${url})` : undefined]
      .filter(Boolean)
      .join(' ');
    super(`${context.check}: ${where}: ${sanitizeReason(detail, 600)}`, { cause });
    this.check = context.check;
    this.side = context.side;
    this.type = context.type;
    this.url = url;
  }
}

/** Wraps any failure of a request in a CheckError carrying the context; CheckErrors pass through. */
export function withContext(context: CheckErrorContext, error: unknown): CheckError {
  if (error instanceof CheckError) return error;
  return new CheckError(context, error instanceof Error ? error.message : String(error), error);
}
