/**
 * Bus topics and their message bodies. Every body is parsed with zod on receipt; fields are only added.
 * Messages announce ledger facts (which chunk changed); handlers re-read the ledger for the state.
 */
import { z } from 'zod';

export const topics = {
  /** A chunk was planned: the exporter kicks off its export. */
  chunkPlanned: 'chunk-planned',
  /** Time to poll a running export (scheduled message). */
  exportPoll: 'export-poll',
  /** A chunk's files are staged: the importer may import it (in window order). */
  exportCompleted: 'export-completed',
  /** Time to poll a running import job (scheduled message). */
  importPoll: 'import-poll',
  /** A chunk was applied to the destination: verify it, import the next, plan more. */
  importCompleted: 'import-completed',
  /** A chunk was verified (or failed verification). */
  chunkVerified: 'chunk-verified',
  /** Time for the planner to look for new windows (start-up, follow-up polls). */
  planTick: 'plan-tick',
  /** An operator asked for a verification run (surface, deep or full): the verifier carries it out. */
  verificationRequested: 'verification-requested',
} as const;

export type Topic = (typeof topics)[keyof typeof topics];

const chunkRef = z.object({ schemaVersion: z.literal(1), migrationId: z.string(), chunkId: z.string() });
export const chunkMessage = chunkRef;
export type ChunkMessage = z.infer<typeof chunkMessage>;

export const exportPollMessage = chunkRef.extend({
  statusUrl: z.string(),
  poll: z.number().int().nonnegative(),
});
export type ExportPollMessage = z.infer<typeof exportPollMessage>;

export const importPollMessage = chunkRef.extend({
  jobUrl: z.string(),
  poll: z.number().int().nonnegative(),
});
export type ImportPollMessage = z.infer<typeof importPollMessage>;

export const planTickMessage = z.object({
  schemaVersion: z.literal(1),
  migrationId: z.string(),
  reason: z.string(),
});
export type PlanTickMessage = z.infer<typeof planTickMessage>;

export const verificationRequestedMessage = z.object({
  schemaVersion: z.literal(1),
  migrationId: z.string(),
  runId: z.string(),
});
export type VerificationRequestedMessage = z.infer<typeof verificationRequestedMessage>;

/** Which service subscribes to what (one subscription per consuming service, as on Service Bus). */
export const subscriptions = {
  planner: [topics.planTick, topics.exportCompleted, topics.importCompleted, topics.chunkVerified],
  exporter: [topics.chunkPlanned, topics.exportPoll],
  importer: [topics.exportCompleted, topics.importPoll, topics.importCompleted],
  verifier: [topics.importCompleted, topics.verificationRequested],
} as const satisfies Record<string, readonly Topic[]>;

export type ServiceName = keyof typeof subscriptions | 'api';
