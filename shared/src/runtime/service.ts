/**
 * Runs a service's handlers on the bus: parse the body with its contract, call the handler, and map the
 * outcome in one place — resolve → complete; a stale command (ILLEGAL_TRANSITION) → complete with a
 * warning; a body that breaks its contract → dead letter at once; anything else → retry, then dead letter.
 */
import { z } from 'zod';
import type { PipelineContext } from '../application/context.ts';
import { reasonOf } from '../application/errors.ts';
import type { Topic } from '../contracts/messages.ts';
import { DomainError } from '../domain/errors.ts';
import { DeadLetterError, type ReceivedMessage, type Subscription } from '../ports/bus.ts';
import { consumeInSpan, tracedBus } from './tracing.ts';

/** The ids a span is labelled with, read leniently before the body is checked against its contract. */
const messageIds = z.object({ migrationId: z.string().optional(), chunkId: z.string().optional() });

export interface HandlerSpec<S extends z.ZodType = z.ZodType> {
  topic: Topic;
  schema: S;
  handle: (ctx: PipelineContext, body: z.output<S>) => Promise<void>;
  /** How long a delivery stays locked while this handler runs (default: the service's lockMs). */
  lockMs?: number;
}

export function handler<S extends z.ZodType>(
  topic: Topic,
  schema: S,
  handle: (ctx: PipelineContext, body: z.output<S>) => Promise<void>,
): HandlerSpec {
  return { topic, schema, handle } as HandlerSpec;
}

export interface ServiceOptions {
  lockMs?: number;
  maxDeliveries?: number;
  concurrency?: number;
  /** Test hook: called before each handler; throwing simulates a handler failure. */
  beforeHandle?: (service: string, topic: Topic, messageId: string, deliveryCount: number) => void;
}

export async function startService(
  ctx: PipelineContext,
  name: string,
  specs: readonly HandlerSpec[],
  options: ServiceOptions = {},
): Promise<Subscription[]> {
  const subscriptions: Subscription[] = [];
  // Everything a handler publishes carries the trace context it runs in.
  const bus = tracedBus(ctx.bus);
  for (const spec of specs) {
    await ctx.bus.declare(spec.topic, name);
    const handle = async (message: ReceivedMessage): Promise<void> => {
      const parsed = spec.schema.safeParse(message.body);
      if (!parsed.success)
        throw new DeadLetterError(
          `message ${message.id} on ${spec.topic} breaks its contract: ${parsed.error.message.slice(0, 500)}`,
        );
      const log = ctx.log.child({
        service: name,
        topic: spec.topic,
        messageId: message.id,
        delivery: message.deliveryCount,
      });
      try {
        options.beforeHandle?.(name, spec.topic, message.id, message.deliveryCount);
        await spec.handle({ ...ctx, bus, log }, parsed.data);
      } catch (err) {
        if (err instanceof DeadLetterError) {
          log.warn({ reason: err.message }, 'message dead-lettered');
          throw err;
        }
        if (err instanceof DomainError && err.code === 'ILLEGAL_TRANSITION') {
          log.warn({ reason: err.message }, 'stale message ignored');
          return;
        }
        log.warn({ reason: reasonOf(err) }, 'handler failed; the message will be retried');
        throw err;
      }
    };
    subscriptions.push(
      ctx.bus.subscribe(
        spec.topic,
        name,
        async (message) => {
          const ids = messageIds.safeParse(message.body);
          await consumeInSpan(name, message, ids.success ? ids.data : {}, () => handle(message));
        },
        {
          lockMs: spec.lockMs ?? options.lockMs ?? 60_000,
          maxDeliveries: options.maxDeliveries ?? 10,
          concurrency: options.concurrency ?? 1,
        },
      ),
    );
  }
  return subscriptions;
}
