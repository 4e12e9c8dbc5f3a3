/** Publishing the bus messages that announce ledger facts, with deterministic ids. */
import type { ChunkMessage, topics } from '../contracts/messages.ts';
import type { PipelineContext } from './context.ts';

export function chunkMessage(ctx: PipelineContext, chunkId: string): ChunkMessage {
  return { schemaVersion: 1, migrationId: ctx.config.migrationId, chunkId };
}

/** Announces a chunk fact on `topic`; `eventId` (the ledger event's id) makes redelivery dedupe-able. */
export async function announce(
  ctx: PipelineContext,
  topic: (typeof topics)[keyof typeof topics],
  chunkId: string,
  eventId: string,
  delayMs = 0,
): Promise<void> {
  await ctx.bus.publish(topic, [
    {
      id: `${topic}:${eventId}`,
      body: chunkMessage(ctx, chunkId),
      ...(delayMs > 0 ? { deliverAt: new Date(ctx.now().getTime() + delayMs) } : {}),
    },
  ]);
}
