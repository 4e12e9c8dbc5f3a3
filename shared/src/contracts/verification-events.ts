/**
 * Verification runs: each is its own ledger stream (`verification-<runId>`), requested by the CLI or the
 * API, carried out by the verifier, and read back by the API and the dashboard. Results are stored in
 * bounded form (lists capped); `fhir-migrate verify --json` prints the complete report.
 */
import { z } from 'zod';

export const verificationKind = z.enum(['surface', 'deep', 'full']);
export type VerificationKind = z.infer<typeof verificationKind>;

const count = z.number().int().nonnegative();

export const surfaceResult = z.object({
  rows: z.array(z.object({ type: z.string(), source: count, destination: count, difference: z.number() })),
  ok: z.boolean(),
  durationMs: z.number().nonnegative(),
});

export const deepResult = z.object({
  seed: z.number().int(),
  checked: count,
  /** Sampled but not yet due (changed on the source at or after the watermark). */
  pending: count.optional(),
  perType: z.record(z.string(), z.object({ sampled: count, mismatches: count })),
  mismatches: z.array(
    z.object({
      type: z.string(),
      id: z.string(),
      kind: z.enum(['missing', 'differs', 'extra']),
      paths: z.array(z.string()).optional(),
    }),
  ),
  ok: z.boolean(),
  durationMs: z.number().nonnegative(),
});

const reconcileCounts = z.object({
  source: count,
  destination: count,
  matching: count,
  missing: count,
  extra: count,
  differing: count,
  pending: count,
});

export const repairResult = z.object({
  restored: count,
  updated: count,
  deleted: count,
  failures: z.array(z.object({ ref: z.string(), reason: z.string() })),
  durationMs: z.number().nonnegative(),
});

export const fullResult = z.object({
  rows: z.array(reconcileCounts.extend({ type: z.string() })),
  totals: reconcileCounts,
  missing: z.array(z.string()),
  extra: z.array(z.string()),
  differing: z.array(z.object({ ref: z.string(), paths: z.array(z.string()) })),
  pending: z.array(z.string()),
  truncated: z.boolean(),
  ok: z.boolean(),
  durationMs: z.number().nonnegative(),
  asOf: z.string().optional(),
  repair: repairResult.optional(),
});

export const verificationRequest = z.object({
  kind: verificationKind,
  /** deep: resources sampled per type. */
  count: z.number().int().min(1).max(100_000).optional(),
  /** deep: the sampling seed (same seed, same sample). */
  seed: z.number().int().optional(),
  /** Types to check; empty = the migration's configured types (surface: surfaceCheckResources first). */
  types: z.array(z.string()).optional(),
  /** Search parameters applied on both servers, e.g. `_tag=system|code`. */
  filter: z.string().max(500).optional(),
  /** full: copy missing/differing resources from the source afterwards. */
  fix: z.boolean().optional(),
  /** full + fix: also delete extras on the destination. */
  deleteExtra: z.boolean().optional(),
});
export type VerificationRequest = z.infer<typeof verificationRequest>;

export const verificationEventSchemas = {
  VerificationRequested: verificationRequest.extend({ requestedBy: z.string() }),
  VerificationStarted: z.object({ by: z.string() }),
  VerificationCompleted: z.object({
    ok: z.boolean(),
    surface: surfaceResult.optional(),
    deep: deepResult.optional(),
    full: fullResult.optional(),
  }),
  VerificationFailed: z.object({ reason: z.string() }),
} as const;

export type VerificationEventType = keyof typeof verificationEventSchemas;
export type VerificationEvent = {
  [T in VerificationEventType]: {
    type: T;
    at: string;
    data: z.infer<(typeof verificationEventSchemas)[T]>;
  };
}[VerificationEventType];

export function parseVerificationEvent(raw: { type: string; at: string; data: unknown }): VerificationEvent {
  const schema = (verificationEventSchemas as Record<string, z.ZodType>)[raw.type];
  if (!schema) throw new Error(`unknown verification event type '${raw.type}'`);
  return { type: raw.type, at: raw.at, data: schema.parse(raw.data) } as VerificationEvent;
}
