/**
 * The OperationOutcome of a FHIR error reply, parsed leniently (only what error handling reads), and a short
 * text summary of it for error messages.
 */
import { z } from 'zod';
import { redactText } from './redact.ts';

const issueSchema = z.looseObject({
  severity: z.string().optional(),
  code: z.string().optional(),
  diagnostics: z.string().optional(),
  details: z.looseObject({ text: z.string().optional() }).optional(),
  expression: z.array(z.string()).optional(),
});

export const operationOutcomeSchema = z.looseObject({
  resourceType: z.literal('OperationOutcome'),
  issue: z.array(issueSchema).default([]),
});

export type OperationOutcome = z.infer<typeof operationOutcomeSchema>;
export type OperationOutcomeIssue = z.infer<typeof issueSchema>;

/** Parses a reply body (text or already-parsed JSON) as an OperationOutcome; undefined if it is not one. */
export function parseOperationOutcome(body: unknown): OperationOutcome | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const parsed = operationOutcomeSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** One line per issue: `severity code: diagnostics`, redacted and cut to `maxLength` characters. */
export function summarizeOutcome(outcome: OperationOutcome, maxLength = 500): string {
  const text = outcome.issue
    .map((issue) => {
      const what = issue.diagnostics ?? issue.details?.text ?? '';
      const head = [issue.severity, issue.code].filter(Boolean).join(' ');
      return head && what ? `${head}: ${what}` : head || what;
    })
    .filter((s) => s.length > 0)
    .join('; ');
  return truncate(redactText(text), maxLength);
}

/** Returns a deep copy of a JSON value with every string passed through {@link redactText}. */
export function redactDeep<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_key, v: unknown) => (typeof v === 'string' ? redactText(v) : v));
}

export function truncate(text: string, maxLength: number): string {
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}
