/**
 * The Service Bus adapter's own behaviour against a mocked Service Bus client and administration client: no
 * broker runs here (no emulator, no network), so these tests check what the adapter asks of the SDK and how
 * it maps what the SDK hands back. The broker's side (duplicate detection, scheduling, rules, locks) is
 * covered only by the contract suite in bus-servicebus.azure.spec.ts against a real namespace.
 */
import type {
  CreateSubscriptionOptions,
  CreateTopicOptions,
  MessageHandlers,
  SubscribeOptions as SdkSubscribeOptions,
  ServiceBusMessage,
  ServiceBusMessageBatch,
  ServiceBusReceivedMessage,
  ServiceBusReceiverOptions,
  SqlRuleFilter,
} from '@azure/service-bus';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, ReceivedMessage } from '../../ports/bus.ts';
import { DeadLetterError } from '../../ports/bus.ts';
import {
  type BusReceiver,
  type BusSender,
  createServiceBusBus,
  createServiceBusBusOver,
  ServiceBusBusError,
  type ServiceBusBusSettings,
  type ServiceBusClientPort,
} from './bus-servicebus.ts';
import type { TopologyAdmin } from './topology.ts';

const secretKey = 'c2VjcmV0LWtleS10aGF0LW11c3Qtc3RheS1oaWRkZW4=';
const connectionString = `Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${secretKey}`;
const enqueued = new Date('2025-03-01T10:00:00Z');
const clock = () => new Date('2025-03-01T12:00:00Z');

type Settlement =
  | { kind: 'complete' | 'abandon'; messageId: unknown; dlq: boolean }
  | { kind: 'deadLetter'; messageId: unknown; dlq: boolean; options: Record<string, unknown> };

/** A message as the SDK hands it over: `deliveryCount` is the AMQP header's (0 on the first delivery). */
function incoming(
  fields: Partial<ServiceBusReceivedMessage> & { messageId: string },
): ServiceBusReceivedMessage {
  const body = fields.body ?? Buffer.from(JSON.stringify({ n: 1 }));
  return {
    state: 'active',
    deliveryCount: 0,
    enqueuedTimeUtc: enqueued,
    contentType: 'application/json',
    _rawAmqpMessage: { body },
    ...fields,
    body,
  };
}

/** An in-memory stand-in for the SDK clients, recording every call the adapter makes. */
class FakeServiceBus {
  sent: Array<{ entity: string; message: ServiceBusMessage }> = [];
  sentBatchSizes: number[] = [];
  batchCapacity = Number.POSITIVE_INFINITY;
  settlements: Settlement[] = [];
  deadLetterQueues = new Map<string, ServiceBusReceivedMessage[]>();
  receiverOptions: Array<{ entity: string; options: ServiceBusReceiverOptions }> = [];
  subscriptions: Array<{ entity: string; handlers: MessageHandlers; options?: SdkSubscribeOptions }> = [];
  closed: string[] = [];
  failSend?: Error;
  failComplete?: Error;
  private batches = new WeakMap<object, ServiceBusMessage[]>();

  client: ServiceBusClientPort = {
    createSender: (entity) => this.sender(entity),
    createReceiver: (topic, subscription, options) => this.receiver(`${topic}/${subscription}`, options),
    close: async () => void this.closed.push('client'),
  };

  dlq(entity: string): ServiceBusReceivedMessage[] {
    let queue = this.deadLetterQueues.get(entity);
    if (!queue) {
      queue = [];
      this.deadLetterQueues.set(entity, queue);
    }
    return queue;
  }

  /** Hands a message to the latest receiver subscribed to `entity`, as the SDK would; resolves once settled. */
  async deliver(entity: string, message: ServiceBusReceivedMessage): Promise<void> {
    const subscription = this.subscriptions.findLast((s) => s.entity === entity);
    if (!subscription) throw new Error(`nobody subscribed to ${entity}`);
    await subscription.handlers.processMessage(message);
  }

  private sender(entity: string): BusSender {
    return {
      createMessageBatch: async () => {
        const messages: ServiceBusMessage[] = [];
        const batch: ServiceBusMessageBatch = {
          sizeInBytes: 0,
          maxSizeInBytes: 1024,
          get count() {
            return messages.length;
          },
          tryAddMessage: (message) => {
            if (messages.length >= this.batchCapacity || JSON.stringify(message).length > 4096) return false;
            messages.push(message as ServiceBusMessage);
            return true;
          },
        };
        this.batches.set(batch, messages);
        return batch;
      },
      sendMessages: async (messages) => {
        if (this.failSend) throw this.failSend;
        const list = this.batches.get(messages as object) ?? [messages as ServiceBusMessage];
        this.sentBatchSizes.push(list.length);
        for (const message of list) this.sent.push({ entity, message });
      },
      close: async () => void this.closed.push(`sender ${entity}`),
    };
  }

  private receiver(entity: string, options: ServiceBusReceiverOptions): BusReceiver {
    this.receiverOptions.push({ entity, options });
    const dlq = options.subQueueType === 'deadLetter';
    const queue = this.dlq(entity);
    const locked = new Set<ServiceBusReceivedMessage>();
    let peeked = 0;
    const settle = (kind: 'complete' | 'abandon', message: ServiceBusReceivedMessage) => {
      this.settlements.push({ kind, messageId: message.messageId, dlq });
      if (!dlq) return;
      locked.delete(message);
      if (kind === 'complete') queue.splice(queue.indexOf(message), 1);
    };
    return {
      subscribe: (handlers, subscribeOptions) => {
        this.subscriptions.push({
          entity,
          handlers,
          ...(subscribeOptions ? { options: subscribeOptions } : {}),
        });
        return { close: async () => void this.closed.push(`subscription ${entity}`) };
      },
      peekMessages: async (max) => {
        const page = queue.slice(peeked, peeked + max);
        peeked += page.length;
        return page;
      },
      receiveMessages: async (max) => {
        const batch = queue.filter((m) => !locked.has(m)).slice(0, max);
        for (const m of batch) locked.add(m);
        return batch;
      },
      completeMessage: async (message) => {
        if (this.failComplete) throw this.failComplete;
        settle('complete', message);
      },
      abandonMessage: async (message) => settle('abandon', message),
      deadLetterMessage: async (
        message,
        deadLetterOptions = { deadLetterReason: '', deadLetterErrorDescription: '' },
      ) => {
        this.settlements.push({
          kind: 'deadLetter',
          messageId: message.messageId,
          dlq,
          options: deadLetterOptions,
        });
        const { deadLetterReason, deadLetterErrorDescription, ...modified } = deadLetterOptions;
        queue.push({
          ...message,
          deadLetterReason,
          deadLetterErrorDescription,
          applicationProperties: {
            ...message.applicationProperties,
            ...modified,
            DeadLetterReason: deadLetterReason,
            DeadLetterErrorDescription: deadLetterErrorDescription,
          },
        });
      },
      close: async () => void this.closed.push(`receiver ${entity}${dlq ? ' (dead letters)' : ''}`),
    };
  }
}

/** The administration client over a set of existing entities, recording every create and delete. */
class FakeAdmin implements TopologyAdmin {
  topics = new Set<string>();
  subscriptions = new Set<string>();
  rules = new Set<string>();
  calls: Array<[string, ...unknown[]]> = [];
  failWith?: Error & { statusCode?: number };

  private check(): void {
    if (this.failWith) throw this.failWith;
  }
  async topicExists(topic: string) {
    this.check();
    return this.topics.has(topic);
  }
  async subscriptionExists(topic: string, sub: string) {
    this.check();
    return this.subscriptions.has(`${topic}/${sub}`);
  }
  async ruleExists(topic: string, sub: string, rule: string) {
    this.check();
    return this.rules.has(`${topic}/${sub}/${rule}`);
  }
  async createTopic(topic: string, options: CreateTopicOptions) {
    this.calls.push(['createTopic', topic, options]);
    this.topics.add(topic);
  }
  async createSubscription(topic: string, sub: string, options: CreateSubscriptionOptions) {
    this.calls.push(['createSubscription', topic, sub, options]);
    this.subscriptions.add(`${topic}/${sub}`);
    this.rules.add(`${topic}/${sub}/${options.defaultRuleOptions?.name ?? '$Default'}`);
  }
  async createRule(topic: string, sub: string, rule: string, filter: SqlRuleFilter) {
    this.calls.push(['createRule', topic, sub, rule, filter]);
    this.rules.add(`${topic}/${sub}/${rule}`);
  }
  async deleteRule(topic: string, sub: string, rule: string) {
    this.calls.push(['deleteRule', topic, sub, rule]);
    this.rules.delete(`${topic}/${sub}/${rule}`);
  }
}

describe('Service Bus bus with a mocked Service Bus client', () => {
  let fake: FakeServiceBus;
  let bus: Bus;
  const opened: Bus[] = [];

  function open(settings: ServiceBusBusSettings = {}, admin?: TopologyAdmin): Bus {
    fake = new FakeServiceBus();
    bus = createServiceBusBusOver(
      { client: fake.client, ...(admin ? { admin } : {}) },
      { now: clock, ...settings },
    );
    opened.push(bus);
    return bus;
  }

  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
  });

  /** Subscribes a handler and returns what it received. */
  function handled(
    handler: (m: ReceivedMessage) => Promise<void> = async () => {},
    options?: Parameters<Bus['subscribe']>[3],
  ) {
    const received: ReceivedMessage[] = [];
    const subscription = bus.subscribe(
      'chunks',
      'exporter',
      async (m) => {
        received.push(m);
        await handler(m);
      },
      options,
    );
    return { received, subscription };
  }

  describe('publish', () => {
    it('sends messageId, JSON body, application properties and scheduledEnqueueTimeUtc, to the prefixed topic', async () => {
      open({ topicPrefix: 'run1-' });
      const deliverAt = new Date('2025-03-01T12:30:00Z');
      await bus.publish('chunks', [
        { id: 'evt-1', body: { chunkId: 'c-1', name: 'Zoë' }, properties: { traceparent: '00-abc-def-01' } },
        { id: 'evt-2', body: 'text', deliverAt },
      ]);
      expect(fake.sent).toHaveLength(2);
      const [first, second] = fake.sent;
      expect(first?.entity).toBe('run1-chunks');
      expect(first?.message).toMatchObject({
        messageId: 'evt-1',
        contentType: 'application/json',
        applicationProperties: { traceparent: '00-abc-def-01' },
      });
      expect(JSON.parse(Buffer.from(first?.message.body as Buffer).toString('utf8'))).toEqual({
        chunkId: 'c-1',
        name: 'Zoë',
      });
      expect(first?.message.scheduledEnqueueTimeUtc).toBeUndefined();
      expect(second?.message.messageId).toBe('evt-2');
      expect(second?.message.scheduledEnqueueTimeUtc).toEqual(deliverAt);
    });

    it('drops a repeated id within one publish (first wins) and sends in batches when one is full', async () => {
      open();
      fake.batchCapacity = 2;
      await bus.publish('chunks', [
        { id: 'a', body: 'first' },
        { id: 'a', body: 'again' },
        { id: 'b', body: 2 },
        { id: 'c', body: 3 },
      ]);
      expect(fake.sent.map((s) => s.message.messageId)).toEqual(['a', 'b', 'c']);
      expect(fake.sentBatchSizes).toEqual([2, 1]);
      expect(Buffer.from(fake.sent[0]?.message.body as Buffer).toString()).toBe('"first"');
    });

    it('refuses a message too large for a batch, a reserved property and an over-long id, naming the message', async () => {
      open();
      const tooLarge = bus.publish('chunks', [{ id: 'huge', body: 'x'.repeat(5000) }]);
      await expect(tooLarge).rejects.toThrow(ServiceBusBusError);
      await expect(tooLarge).rejects.toThrow(/publish failed for chunks \(message huge\)/);
      await expect(
        bus.publish('chunks', [{ id: 'm', body: 1, properties: { replayTo: 'x' } }]),
      ).rejects.toThrow(/replayTo is reserved/);
      await expect(bus.publish('chunks', [{ id: 'i'.repeat(129), body: 1 }])).rejects.toThrow(/1 to 128/);
      expect(fake.sent).toEqual([]);
    });
  });

  describe('receiving', () => {
    it('receives in peek-lock with lock renewal, no auto-complete and concurrency as maxConcurrentCalls', () => {
      open({ maxLockRenewalMs: 7_200_000 });
      handled(async () => {}, { concurrency: 4 });
      expect(fake.receiverOptions).toEqual([
        {
          entity: 'chunks/exporter',
          options: {
            receiveMode: 'peekLock',
            maxAutoLockRenewalDurationInMs: 7_200_000,
            skipParsingBodyAsJson: true,
          },
        },
      ]);
      expect(fake.subscriptions[0]?.options).toEqual({ autoCompleteMessages: false, maxConcurrentCalls: 4 });
    });

    it('turns lock renewal off only when asked to (a receiver acting out a dead process)', () => {
      open({ lockRenewal: false });
      handled();
      expect(fake.receiverOptions[0]?.options.maxAutoLockRenewalDurationInMs).toBe(0);
    });

    it('hands the handler the port message (deliveryCount 1 on first delivery) and completes it when it resolves', async () => {
      open();
      const { received } = handled();
      await fake.deliver(
        'chunks/exporter',
        incoming({
          messageId: 'evt-1',
          body: Buffer.from(JSON.stringify({ chunkId: 'c-1' })),
          applicationProperties: { traceparent: '00-abc-def-01', attempt: 2 },
        }),
      );
      expect(received).toEqual([
        {
          id: 'evt-1',
          topic: 'chunks',
          subscription: 'exporter',
          body: { chunkId: 'c-1' },
          deliveryCount: 1,
          enqueuedAt: enqueued,
          properties: { traceparent: '00-abc-def-01', attempt: '2' },
        },
      ]);
      expect(fake.settlements).toEqual([{ kind: 'complete', messageId: 'evt-1', dlq: false }]);
    });

    it('dead-letters at once with the reason when the handler throws DeadLetterError', async () => {
      open();
      const { received } = handled(async () => {
        throw new DeadLetterError('unknown message type ChunkFoo');
      });
      await fake.deliver('chunks/exporter', incoming({ messageId: 'bad' }));
      expect(received).toHaveLength(1);
      expect(fake.settlements).toEqual([
        {
          kind: 'deadLetter',
          messageId: 'bad',
          dlq: false,
          options: {
            deadLetterReason: 'unknown message type ChunkFoo',
            deadLetterErrorDescription: 'DeadLetterError',
            deadLetteredAt: '2025-03-01T12:00:00.000Z',
            deliveriesBeforeDeadLetter: 1,
          },
        },
      ]);
    });

    it('waits the retry delay holding the lock, abandons, and dead-letters on delivery maxDeliveries', async () => {
      open();
      const delaysAskedFor: number[] = [];
      handled(
        async () => {
          throw new Error('FHIR server said 503');
        },
        {
          maxDeliveries: 3,
          retryDelayMs: (count) => {
            delaysAskedFor.push(count);
            return 150;
          },
        },
      );
      const started = Date.now();
      await fake.deliver('chunks/exporter', incoming({ messageId: 'm', deliveryCount: 0 }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect(fake.settlements).toEqual([{ kind: 'abandon', messageId: 'm', dlq: false }]);
      await fake.deliver('chunks/exporter', incoming({ messageId: 'm', deliveryCount: 1 }));
      await fake.deliver('chunks/exporter', incoming({ messageId: 'm', deliveryCount: 2 }));
      expect(delaysAskedFor).toEqual([1, 2]);
      expect(fake.settlements.map((s) => s.kind)).toEqual(['abandon', 'abandon', 'deadLetter']);
      expect(fake.settlements[2]).toMatchObject({
        options: {
          deadLetterReason: 'delivery limit of 3 reached; last error: Error: FHIR server said 503',
          deliveriesBeforeDeadLetter: 3,
        },
      });
    });

    it('caps the wait before abandoning at maxRetryHoldMs', async () => {
      open({ maxRetryHoldMs: 20 });
      handled(
        async () => {
          throw new Error('transient');
        },
        { retryDelayMs: () => 600_000 },
      );
      const started = Date.now();
      await fake.deliver('chunks/exporter', incoming({ messageId: 'm' }));
      expect(Date.now() - started).toBeLessThan(1000);
      expect(fake.settlements).toEqual([{ kind: 'abandon', messageId: 'm', dlq: false }]);
    });

    it('dead-letters without running the handler a message whose lock expired on its last allowed delivery', async () => {
      open();
      const { received } = handled(async () => {}, { maxDeliveries: 1 });
      await fake.deliver('chunks/exporter', incoming({ messageId: 'orphan', deliveryCount: 1 }));
      expect(received).toEqual([]);
      expect(fake.settlements).toMatchObject([
        {
          kind: 'deadLetter',
          messageId: 'orphan',
          options: { deadLetterReason: expect.stringContaining('delivery limit of 1 exceeded') },
        },
      ]);
    });

    it('dead-letters a body that is not JSON without running the handler', async () => {
      open();
      const { received } = handled();
      await fake.deliver('chunks/exporter', incoming({ messageId: 'raw', body: Buffer.from('not json {') }));
      expect(received).toEqual([]);
      expect(fake.settlements).toMatchObject([
        { kind: 'deadLetter', options: { deadLetterReason: 'the message body is not JSON' } },
      ]);
    });

    it('close() cuts a retry wait short, waits for the handler, abandons what arrives later and closes the receiver', async () => {
      open();
      const { subscription, received } = handled(
        async () => {
          throw new Error('transient');
        },
        { retryDelayMs: () => 60_000 },
      );
      const started = Date.now();
      const delivery = fake.deliver('chunks/exporter', incoming({ messageId: 'waiting' }));
      await new Promise((resolve) => setTimeout(resolve, 20));
      await subscription.close();
      await delivery;
      expect(Date.now() - started).toBeLessThan(5000);
      expect(fake.settlements).toEqual([{ kind: 'abandon', messageId: 'waiting', dlq: false }]);
      expect(fake.closed).toEqual(['subscription chunks/exporter', 'receiver chunks/exporter']);
      await fake.deliver('chunks/exporter', incoming({ messageId: 'late' }));
      expect(fake.settlements[1]).toEqual({ kind: 'abandon', messageId: 'late', dlq: false });
      expect(received.map((m) => m.id)).toEqual(['waiting']);
    });

    it('refuses invalid subscribe options', () => {
      open();
      expect(() => bus.subscribe('chunks', 'a', async () => {}, { concurrency: 0 })).toThrow(RangeError);
      expect(() => bus.subscribe('chunks', 'a', async () => {}, { maxDeliveries: 1.5 })).toThrow(RangeError);
    });
  });

  describe('dead letters', () => {
    it('lists every page of the dead-letter sub-queue, mapped, with publisher properties only', async () => {
      open();
      handled(async () => {
        throw new DeadLetterError('bad input');
      });
      for (let i = 0; i < 150; i++) {
        await fake.deliver(
          'chunks/exporter',
          incoming({ messageId: `m-${i}`, applicationProperties: { traceparent: `00-${i}-01` } }),
        );
      }
      fake.dlq('chunks/exporter').push(
        incoming({
          messageId: 'expired',
          deliveryCount: 9,
          deadLetterReason: 'MaxDeliveryCountExceeded',
          deadLetterErrorDescription: 'Message could not be consumed after 10 delivery attempts.',
          applicationProperties: { DeadLetterReason: 'MaxDeliveryCountExceeded' },
        }),
      );
      const letters = await bus.listDeadLetters('chunks', 'exporter');
      expect(letters).toHaveLength(151);
      const common = { topic: 'chunks', subscription: 'exporter', body: { n: 1 } };
      expect(letters[149]).toEqual({
        ...common,
        id: 'm-149',
        deliveryCount: 1,
        reason: 'bad input',
        deadLetteredAt: new Date('2025-03-01T12:00:00Z'),
        properties: { traceparent: '00-149-01' },
      });
      expect(letters[150]).toEqual({
        ...common,
        id: 'expired',
        deliveryCount: 10,
        reason: 'MaxDeliveryCountExceeded: Message could not be consumed after 10 delivery attempts.',
        deadLetteredAt: enqueued,
      });
      expect(fake.receiverOptions.at(-1)?.options.subQueueType).toBe('deadLetter');
      expect(fake.closed).toContain('receiver chunks/exporter (dead letters)');
    });

    it('replays one dead letter: a stripped copy with a fresh id for that subscription only, then completes it', async () => {
      open();
      handled(async () => {
        throw new DeadLetterError('not yet');
      });
      for (const id of ['before', 'target', 'after']) {
        await fake.deliver(
          'chunks/exporter',
          incoming({ messageId: id, applicationProperties: { traceparent: `00-${id}-01` } }),
        );
      }
      fake.settlements = [];
      await bus.replayDeadLetter('chunks', 'exporter', 'target');
      expect(fake.sent).toHaveLength(1);
      const copy = fake.sent[0]?.message;
      expect(fake.sent[0]?.entity).toBe('chunks');
      expect(copy?.messageId).toMatch(/^[0-9a-f-]{36}$/);
      expect(copy?.applicationProperties).toEqual({
        traceparent: '00-target-01',
        replayTo: 'exporter',
        replayOf: 'target',
      });
      expect(JSON.parse(Buffer.from(copy?.body as Buffer).toString())).toEqual({ n: 1 });
      expect(fake.settlements).toEqual([
        { kind: 'complete', messageId: 'target', dlq: true },
        { kind: 'abandon', messageId: 'before', dlq: true },
        { kind: 'abandon', messageId: 'after', dlq: true },
      ]);
      expect((await bus.listDeadLetters('chunks', 'exporter')).map((d) => d.id)).toEqual(['before', 'after']);

      // The copy, as the subscription then receives it: the port id, a fresh delivery count.
      const received: ReceivedMessage[] = [];
      bus.subscribe('chunks', 'exporter', async (m) => void received.push(m));
      await fake.deliver(
        'chunks/exporter',
        incoming({ ...(copy as ServiceBusMessage), messageId: String(copy?.messageId) }),
      );
      expect(received).toMatchObject([
        { id: 'target', deliveryCount: 1, properties: { traceparent: '00-target-01' } },
      ]);
    });

    it('replay of an id that is not dead-lettered fails clearly and abandons every letter it looked at', async () => {
      open({ deadLetterScanWaitMs: 10 });
      fake.dlq('chunks/exporter').push(incoming({ messageId: 'other' }));
      const replay = bus.replayDeadLetter('chunks', 'exporter', 'missing');
      await expect(replay).rejects.toThrow(/no dead letter missing on chunks\/exporter/);
      await expect(replay).rejects.toMatchObject({ code: 'BUS_DEAD_LETTER_NOT_FOUND', messageId: 'missing' });
      expect(fake.sent).toEqual([]);
      expect(fake.settlements).toEqual([{ kind: 'abandon', messageId: 'other', dlq: true }]);
    });
  });

  describe('declare', () => {
    it('creates the topic with duplicate detection and the subscription with the replay rule, once', async () => {
      const admin = new FakeAdmin();
      open({ manageTopology: true, lockDurationMs: 30_000, maxDeliveryCount: 50 }, admin);
      await bus.declare('chunks', 'exporter');
      await bus.declare('chunks', 'exporter');
      expect(admin.calls).toEqual([
        [
          'createTopic',
          'chunks',
          { requiresDuplicateDetection: true, duplicateDetectionHistoryTimeWindow: 'PT600S' },
        ],
        [
          'createSubscription',
          'chunks',
          'exporter',
          {
            lockDuration: 'PT30S',
            maxDeliveryCount: 50,
            deadLetteringOnMessageExpiration: true,
            defaultRuleOptions: {
              name: 'replay-target',
              filter: { sqlExpression: "replayTo IS NULL OR replayTo = 'exporter'" },
            },
          },
        ],
      ]);
    });

    it('on a subscription that exists without the rule (created elsewhere), adds the rule and removes $Default', async () => {
      const admin = new FakeAdmin();
      admin.topics.add('chunks');
      admin.subscriptions.add('chunks/exporter');
      admin.rules.add('chunks/exporter/$Default');
      open({ manageTopology: true }, admin);
      await bus.declare('chunks', 'exporter');
      expect(admin.calls).toEqual([
        [
          'createRule',
          'chunks',
          'exporter',
          'replay-target',
          { sqlExpression: "replayTo IS NULL OR replayTo = 'exporter'" },
        ],
        ['deleteRule', 'chunks', 'exporter', '$Default'],
      ]);
    });

    it('tolerates losing a create race (409) to another process', async () => {
      const admin = new FakeAdmin();
      admin.createTopic = async () => {
        admin.topics.add('chunks');
        throw Object.assign(new Error('MessagingEntityAlreadyExists'), { statusCode: 409 });
      };
      open({ manageTopology: true }, admin);
      await bus.declare('chunks', 'exporter');
      expect(admin.subscriptions.has('chunks/exporter')).toBe(true);
    });

    it('without manageTopology makes no administration call; without the Manage right it says what to do', async () => {
      const admin = new FakeAdmin();
      admin.failWith = Object.assign(new Error('Unauthorized'), { statusCode: 401 });
      open({}, admin);
      await bus.declare('chunks', 'exporter');
      open({ manageTopology: true }, admin);
      await expect(bus.declare('chunks', 'exporter')).rejects.toThrow(/manageTopology: false/);
    });
  });

  describe('errors and closing', () => {
    it('errors name topic, subscription and message id, and carry no secret of the connection string', async () => {
      const errors: ServiceBusBusError[] = [];
      open({ onError: (error) => errors.push(error) });
      fake.failSend = new Error(`connection failed for ${connectionString}`);
      const publish = bus.publish('chunks', [{ id: 'm', body: 1 }]);
      await expect(publish).rejects.toThrow(ServiceBusBusError);
      const error = await publish.catch((e: unknown) => e);
      expect(String((error as Error).message)).toContain('publish failed for chunks');
      expect(String((error as Error).message)).not.toContain(secretKey);

      fake.failComplete = new Error(`settle failed: SharedAccessKey=${secretKey};EntityPath=chunks`);
      handled();
      await fake.deliver('chunks/exporter', incoming({ messageId: 'evt-9' }));
      expect(errors).toHaveLength(1);
      expect(errors[0]?.message).toContain('settle failed for chunks/exporter (message evt-9)');
      expect(errors[0]?.message).toContain('SharedAccessKey=REDACTED');
      expect(errors[0]?.message).not.toContain(secretKey);
      expect(errors[0]).toMatchObject({ topic: 'chunks', subscription: 'exporter', messageId: 'evt-9' });
    });

    it('a malformed connection string fails without echoing its key', () => {
      let thrown: unknown;
      try {
        createServiceBusBus({ connectionString: `SharedAccessKey=${secretKey};nonsense` });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ServiceBusBusError);
      expect(String((thrown as Error).message)).not.toContain(secretKey);
    });

    it('close() closes receivers, senders and the client, and the bus refuses work afterwards', async () => {
      open();
      handled();
      await bus.publish('chunks', [{ id: 'm', body: 1 }]);
      await bus.close();
      expect(fake.closed).toEqual([
        'subscription chunks/exporter',
        'receiver chunks/exporter',
        'sender chunks',
        'client',
      ]);
      await expect(bus.publish('chunks', [{ id: 'n', body: 1 }])).rejects.toThrow(/closed/);
    });
  });
});
