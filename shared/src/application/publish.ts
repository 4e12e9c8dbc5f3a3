/**
 * Publishing the bus messages that announce ledger facts. Ids are deterministic — derived from the ledger
 * event or the poll they stand for — so announcing the same fact again (a redelivered handler, a recovery
 * sweep) is dropped by the bus's duplicate detection, while a publish that was lost goes out.
 * Each goes out in its chunk's trace context, whichever chunk's message the caller is handling.
 */
import { context } from '@opentelemetry/api';
import {
  type ChunkMessage,
  type ExportPollMessage,
  type ImportPollMessage,
  topics,
} from '../contracts/messages.ts';
import type { OutgoingMessage } from '../ports/bus.ts';
import { contextForChunk } from '../runtime/tracing.ts';
import { type PipelineContext, pollDelayMs } from './context.ts';

type ChunkTopic =
  | typeof topics.chunkPlanned
  | typeof topics.exportCompleted
  | typeof topics.importCompleted
  | typeof topics.chunkVerified;

export function chunkMessage(ctx: PipelineContext, chunkId: string): ChunkMessage {
  return { schemaVersion: 1, migrationId: ctx.config.migrationId, chunkId };
}

/** Publishes a message about `chunkId` in that chunk's trace context (the bus adds it to the properties). */
function publishForChunk(
  ctx: PipelineContext,
  chunkId: string,
  topic: string,
  message: OutgoingMessage,
): Promise<void> {
  const chunkContext = contextForChunk({ migrationId: ctx.config.migrationId, chunkId });
  return context.with(chunkContext, () => ctx.bus.publish(topic, [message]));
}

/** Announces a chunk fact on `topic`; `eventId` is the ledger event's id. */
export async function announce(
  ctx: PipelineContext,
  topic: ChunkTopic,
  chunkId: string,
  eventId: string,
  delayMs = 0,
): Promise<void> {
  await publishForChunk(ctx, chunkId, topic, {
    id: `${topic}:${eventId}`,
    body: chunkMessage(ctx, chunkId),
    ...(delayMs > 0 ? { deliverAt: new Date(ctx.now().getTime() + delayMs) } : {}),
  });
}

/** Schedules poll number `poll` of an export job. */
export async function scheduleExportPoll(
  ctx: PipelineContext,
  chunkId: string,
  statusUrl: string,
  poll: number,
  retryAfterMs?: number,
): Promise<void> {
  const body: ExportPollMessage = { ...chunkMessage(ctx, chunkId), statusUrl, poll };
  await publishForChunk(ctx, chunkId, topics.exportPoll, {
    id: `${topics.exportPoll}:${chunkId}:${statusUrl}:${poll}`,
    body,
    deliverAt: new Date(ctx.now().getTime() + pollDelayMs(poll, retryAfterMs)),
  });
}

/** Schedules poll number `poll` of an import job. */
export async function scheduleImportPoll(
  ctx: PipelineContext,
  chunkId: string,
  jobUrl: string,
  poll: number,
  retryAfterMs?: number,
): Promise<void> {
  const body: ImportPollMessage = { ...chunkMessage(ctx, chunkId), jobUrl, poll };
  await publishForChunk(ctx, chunkId, topics.importPoll, {
    id: `${topics.importPoll}:${chunkId}:${jobUrl}:${poll}`,
    body,
    deliverAt: new Date(ctx.now().getTime() + pollDelayMs(poll, retryAfterMs)),
  });
}

/**
 * After a failed attempt: announce the retry on `retry.topic` after a back-off that grows with the
 * attempts, or — when attempts ran out and the chunk failed — announce that, so the planner halts.
 */
export async function announceFailure(
  ctx: PipelineContext,
  chunkId: string,
  eventId: string,
  retry: { topic: ChunkTopic; attempts: number } | undefined,
): Promise<void> {
  if (retry) await announce(ctx, retry.topic, chunkId, eventId, Math.min(60_000, 1000 * 2 ** retry.attempts));
  else await announce(ctx, topics.chunkVerified, chunkId, eventId);
}
