/**
 * Traces over the bus: a chunk is one trace. The planner opens a new root span per chunk it plans; every
 * message published inside a span carries its W3C trace context (`traceparent`, `tracestate`) as bus
 * properties; each delivery runs in a CONSUMER span under the context it carried. Work a handler does for
 * another chunk than its message's (the importer starting the next chunk) joins that chunk's trace, which
 * this process remembers from the chunk's last span here. Without a registered SDK every call is a no-op.
 */
import {
  type Context,
  context,
  createContextKey,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { reasonOf } from '../application/errors.ts';
import type { Bus, ReceivedMessage } from '../ports/bus.ts';

const tracer = trace.getTracer('fhir-migrate');

/** The chunk (`migrationId/chunkId`) the active span works on. */
const chunkKey = createContextKey('fhir_migrate.chunk');
/** The service whose handler is running (for metric attributes). */
const serviceKey = createContextKey('fhir_migrate.service');

export interface ChunkRef {
  migrationId: string;
  chunkId: string;
}

const keyOf = (chunk: ChunkRef): string => `${chunk.migrationId}/${chunk.chunkId}`;

/** The last span context seen per chunk in this process (bounded: the oldest are forgotten first). */
const chunkSpans = new Map<string, SpanContext>();
const maxRemembered = 10_000;

function remember(chunk: ChunkRef, span: Span): void {
  const spanContext = span.spanContext();
  if (!trace.isSpanContextValid(spanContext)) return;
  const key = keyOf(chunk);
  chunkSpans.delete(key);
  chunkSpans.set(key, spanContext);
  if (chunkSpans.size > maxRemembered) {
    const oldest = chunkSpans.keys().next().value;
    if (oldest !== undefined) chunkSpans.delete(oldest);
  }
}

/**
 * The context to work on `chunk` in: the active one when it already belongs to the chunk, else the chunk's
 * remembered span, else a fresh root (so a chunk's work never lands in another chunk's trace).
 */
export function contextForChunk(chunk: ChunkRef): Context {
  const active = context.active();
  if (active.getValue(chunkKey) === keyOf(chunk)) return active;
  const known = chunkSpans.get(keyOf(chunk));
  const base = contextForRoot();
  return known ? trace.setSpanContext(base, known) : base;
}

/** The service whose handler is running, if any. */
export function activeService(): string | undefined {
  const service = context.active().getValue(serviceKey);
  return typeof service === 'string' ? service : undefined;
}

/** The active span's trace and span ids, for log lines. */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getSpan(context.active())?.spanContext();
  return span && trace.isSpanContextValid(span)
    ? { trace_id: span.traceId, span_id: span.spanId }
    : undefined;
}

/** An empty context that keeps the running service's name. */
function contextForRoot(): Context {
  const service = context.active().getValue(serviceKey);
  return service === undefined ? ROOT_CONTEXT : ROOT_CONTEXT.setValue(serviceKey, service);
}

function chunkAttributes(chunk: ChunkRef) {
  return { 'fhir_migrate.migration_id': chunk.migrationId, 'fhir_migrate.chunk_id': chunk.chunkId };
}

/** Runs `fn` in `span` (made active), ending it with its outcome: an error is recorded and rethrown. */
async function inSpan<T>(parent: Context, span: Span, fn: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(parent, span), fn);
  } catch (err) {
    // Redacted like a ledger reason (no secrets, no quoted resource content), and no stack: it repeats the message.
    const message = reasonOf(err);
    span.recordException({ name: err instanceof Error ? err.name : 'Error', message });
    span.setStatus({ code: SpanStatusCode.ERROR, message });
    throw err;
  } finally {
    span.end();
  }
}

/** A link to the active span, if there is one (a new chunk's root points at what planned it). */
function linkToActive(): Link[] {
  const active = trace.getSpan(context.active())?.spanContext();
  return active && trace.isSpanContextValid(active) ? [{ context: active }] : [];
}

/**
 * Runs `fn` in a span about `chunk`: a child of the chunk's trace (see {@link contextForChunk}), or with
 * `root` a new trace for the chunk (the planner, once per chunk), linked to the span that was active.
 */
export function withChunkSpan<T>(
  name: string,
  chunk: ChunkRef,
  fn: () => Promise<T>,
  options: {
    root?: boolean;
    attributes?: Record<string, string | number | boolean>;
    /** When the work began, if before this call (epoch ms). */
    startTime?: number;
  } = {},
): Promise<T> {
  const sameChunk = context.active().getValue(chunkKey) === keyOf(chunk);
  const parent = (options.root ? contextForRoot() : contextForChunk(chunk)).setValue(chunkKey, keyOf(chunk));
  const links = options.root || !sameChunk ? linkToActive() : [];
  const span = tracer.startSpan(
    name,
    {
      root: options.root === true,
      links,
      attributes: { ...chunkAttributes(chunk), ...options.attributes },
      ...(options.startTime === undefined ? {} : { startTime: options.startTime }),
    },
    parent,
  );
  remember(chunk, span);
  return inSpan(parent, span, fn);
}

/**
 * Runs a service's handler for one delivery in a CONSUMER span `<service> <topic>`, under the trace context
 * the message carried (else its chunk's remembered one, else a new trace).
 */
export function consumeInSpan<T>(
  service: string,
  message: ReceivedMessage,
  ids: { migrationId?: string; chunkId?: string },
  fn: () => Promise<T>,
): Promise<T> {
  const chunk =
    ids.migrationId && ids.chunkId ? { migrationId: ids.migrationId, chunkId: ids.chunkId } : undefined;
  let parent = propagation.extract(ROOT_CONTEXT, message.properties ?? {});
  if (!trace.getSpanContext(parent) && chunk) parent = contextForChunk(chunk);
  if (!trace.getSpanContext(parent)) parent = ROOT_CONTEXT;
  parent = parent.setValue(serviceKey, service);
  if (chunk) parent = parent.setValue(chunkKey, keyOf(chunk));
  const span = tracer.startSpan(
    `${service} ${message.topic}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.operation.type': 'process',
        'messaging.destination.name': message.topic,
        'messaging.destination.subscription.name': message.subscription,
        'messaging.message.id': message.id,
        'messaging.message.delivery_count': message.deliveryCount,
        ...(ids.migrationId ? { 'fhir_migrate.migration_id': ids.migrationId } : {}),
        ...(ids.chunkId ? { 'fhir_migrate.chunk_id': ids.chunkId } : {}),
      },
    },
    parent,
  );
  if (chunk) remember(chunk, span);
  return inSpan(parent, span, fn);
}

/** The bus with the active trace context added to the properties of every message it publishes. */
export function tracedBus(bus: Bus): Bus {
  return {
    declare: (topic, subscription) => bus.declare(topic, subscription),
    publish: (topic, messages) => {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      if (Object.keys(carrier).length === 0) return bus.publish(topic, messages);
      return bus.publish(
        topic,
        messages.map((m) => ({ ...m, properties: { ...carrier, ...m.properties } })),
      );
    },
    subscribe: (topic, subscription, handler, options) =>
      bus.subscribe(topic, subscription, handler, options),
    listDeadLetters: (topic, subscription) => bus.listDeadLetters(topic, subscription),
    replayDeadLetter: (topic, subscription, id) => bus.replayDeadLetter(topic, subscription, id),
    close: () => bus.close(),
  };
}
