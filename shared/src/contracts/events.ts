/**
 * The chunk lifecycle's events: names in the past tense, data validated with zod whenever events are read
 * from the ledger or written to it. Fields are only ever added; a breaking change is a new event type.
 */
import { z } from 'zod';

const instant = z.string().datetime({ offset: true });
const typeCounts = z.record(z.string(), z.number().int().nonnegative());

export const stagedFile = z.object({
  type: z.string(),
  /** Staging key of the NDJSON file. */
  key: z.string(),
  /** Where the exporter downloaded it from (redacted). */
  sourceUrl: z.string(),
  lines: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
});
export type StagedFile = z.infer<typeof stagedFile>;

/** A resource that could not be carried, with enough context to find it again. */
export const resourceIssue = z.object({
  type: z.string().optional(),
  id: z.string().optional(),
  file: z.string().optional(),
  line: z.number().int().positive().optional(),
  reason: z.string(),
});
export type ResourceIssue = z.infer<typeof resourceIssue>;

export const chunkEventSchemas = {
  ChunkPlanned: z.object({
    chunkId: z.string(),
    index: z.number().int().nonnegative(),
    since: instant,
    till: instant,
    /** The source's `_summary=count` for the window when planned. */
    expectedCount: z.number().int().nonnegative(),
  }),
  ChunkSkipped: z.object({ reason: z.literal('empty') }),
  ExportStarted: z.object({ statusUrl: z.string(), attempt: z.number().int().positive() }),
  ExportCompleted: z.object({
    transactionTime: z.string().optional(),
    files: z.array(stagedFile),
    /** Lines per type as the manifest/download saw them (before checks). */
    exported: typeCounts,
    /** Lines staged for import per type (valid lines). */
    staged: typeCounts,
    /** Lines refused by the line check (invalid JSON, wrong type...), each with file and line. */
    rejected: z.array(resourceIssue),
    /** Valid lines whose lastUpdated fell outside the window: staged anyway (current versions), and counted. */
    outOfWindow: z.number().int().nonnegative(),
    /** Deletions the source reported for the window. */
    deletions: z.array(z.object({ type: z.string(), id: z.string() })),
  }),
  ExportFailed: z.object({
    reason: z.string(),
    attempt: z.number().int().positive(),
    retryable: z.boolean(),
  }),
  ImportStarted: z.object({
    mode: z.enum(['bulk', 'rest']),
    jobUrl: z.string().optional(),
    attempt: z.number().int().positive(),
  }),
  ImportCompleted: z.object({
    imported: typeCounts,
    failed: typeCounts,
    failures: z.array(resourceIssue),
    deletesApplied: z.number().int().nonnegative(),
  }),
  ImportFailed: z.object({
    reason: z.string(),
    attempt: z.number().int().positive(),
    retryable: z.boolean(),
  }),
  ChunkVerified: z.object({
    deepChecked: z.number().int().nonnegative(),
  }),
  ChunkFailed: z.object({ stage: z.enum(['export', 'import', 'verify']), reason: z.string() }),
  ChunkRetried: z.object({ requestedBy: z.string() }),
} as const;

export type ChunkEventType = keyof typeof chunkEventSchemas;
export type ChunkEventData<T extends ChunkEventType> = z.infer<(typeof chunkEventSchemas)[T]>;
export type ChunkEvent = {
  [T in ChunkEventType]: { type: T; at: string; data: ChunkEventData<T> };
}[ChunkEventType];

/** Parses an event read from the ledger (or about to be written); throws a ZodError naming the field. */
export function parseChunkEvent(raw: { type: string; at: string; data: unknown }): ChunkEvent {
  const schema = (chunkEventSchemas as Record<string, z.ZodType>)[raw.type];
  if (!schema) throw new Error(`unknown chunk event type '${raw.type}'`);
  return { type: raw.type, at: raw.at, data: schema.parse(raw.data) } as ChunkEvent;
}
