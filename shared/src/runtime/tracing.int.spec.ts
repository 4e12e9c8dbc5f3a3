import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, propagation, trace } from '@opentelemetry/api';
import { node, tracing } from '@opentelemetry/sdk-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteBus } from '../adapters/sqlite/bus-sqlite.ts';
import { openSqliteDatabase, type SqliteDatabase } from '../adapters/sqlite/database.ts';
import type { Bus, ReceivedMessage } from '../ports/bus.ts';
import { consumeInSpan, contextForChunk, tracedBus, withChunkSpan } from './tracing.ts';

const exporter = new tracing.InMemorySpanExporter();
const migrationId = 'm';
const chunk = (chunkId: string) => ({ migrationId, chunkId });
const chunkOf = (s: tracing.ReadableSpan) => s.attributes['fhir_migrate.chunk_id'];

describe('trace context over the bus (SQLite)', () => {
  let dir: string;
  let db: SqliteDatabase;
  let raw: Bus;
  let bus: Bus;
  const received: ReceivedMessage[] = [];

  beforeAll(async () => {
    new node.NodeTracerProvider({ spanProcessors: [new tracing.SimpleSpanProcessor(exporter)] }).register();
    dir = await mkdtemp(join(tmpdir(), 'fhir-migrate-tracing-'));
    db = openSqliteDatabase(join(dir, 'state.sqlite'));
    raw = createSqliteBus(db);
    bus = tracedBus(raw);
    await raw.declare('t', 'svc');
  });
  afterAll(async () => {
    await raw.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
    trace.disable();
    propagation.disable();
    context.disable();
  });
  beforeEach(() => {
    exporter.reset();
    received.length = 0;
  });

  /** Receives one message on `t` and handles it in a consumer span, as startService does. */
  async function consumeNext(handle: () => Promise<void> = async () => {}): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const sub = raw.subscribe('t', 'svc', async (m) => {
        received.push(m);
        const body = m.body as { chunkId?: string };
        await consumeInSpan(
          'svc',
          m,
          { migrationId, ...(body.chunkId ? { chunkId: body.chunkId } : {}) },
          handle,
        ).then(resolve, reject);
        void sub.close();
      });
    });
  }

  it('a message published in a chunk root carries its context; the consumer span is its child', async () => {
    await withChunkSpan('plan', chunk('c1'), () => bus.publish('t', [{ id: '1', body: { chunkId: 'c1' } }]), {
      root: true,
    });
    await consumeNext();
    expect(received[0]?.properties?.traceparent).toMatch(/^00-/);
    const [root, consumer] = exporter.getFinishedSpans();
    expect(consumer?.name).toBe('svc t');
    expect(consumer?.spanContext().traceId).toBe(root?.spanContext().traceId);
    expect(consumer?.parentSpanContext?.spanId).toBe(root?.spanContext().spanId);
  });

  it("work for another chunk inside a consumer span joins that chunk's trace, not the message's", async () => {
    await withChunkSpan('plan', chunk('a'), async () => {}, { root: true });
    await withChunkSpan('plan', chunk('b'), async () => {}, { root: true });
    await withChunkSpan('plan', chunk('a'), () => bus.publish('t', [{ id: '2', body: { chunkId: 'a' } }]));
    await consumeNext(async () => {
      await withChunkSpan('start b', chunk('b'), async () => {
        await context.with(contextForChunk(chunk('b')), () =>
          bus.publish('t', [{ id: '3', body: { chunkId: 'b' } }]),
        );
      });
    });
    await consumeNext();
    const spans = exporter.getFinishedSpans();
    const traceOf = (id: string) =>
      new Set(spans.filter((s) => chunkOf(s) === id).map((s) => s.spanContext().traceId));
    expect(traceOf('a').size).toBe(1);
    expect(traceOf('b').size).toBe(1);
    expect([...traceOf('a')][0]).not.toBe([...traceOf('b')][0]);
    const startB = spans.find((s) => s.name === 'start b');
    expect(startB?.links.map((l) => l.context.traceId)).toEqual([...traceOf('a')]);
  });

  it('a message without trace context, for a chunk this process has not seen, starts a new trace', async () => {
    await raw.publish('t', [{ id: '4', body: { chunkId: 'unseen' } }]);
    await consumeNext();
    const [consumer] = exporter.getFinishedSpans();
    expect(consumer?.parentSpanContext).toBeUndefined();
    expect(chunkOf(consumer as tracing.ReadableSpan)).toBe('unseen');
  });
});
