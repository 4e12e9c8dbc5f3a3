/**
 * The Bus port on Azure Service Bus: one topic per port topic, one subscription per consuming service.
 *
 * - publish: `messageId` = the port id, on topics with duplicate detection (see topology.ts; 10 minutes by
 *   default, where the embedded SQLite bus remembers ids for 7 days), so a second publish of an id within
 *   the window is dropped by the broker; repeats inside one `publish` call are dropped here (first wins).
 *   `deliverAt` becomes `scheduledEnqueueTimeUtc`, properties become application properties. Messages go in
 *   size-limited batches; a publish that fails half-way may be repeated as a whole (the window drops repeats).
 * - subscribe: a peek-lock receiver with `autoCompleteMessages: false` and `maxConcurrentCalls` =
 *   `concurrency`. Resolve → `completeMessage`; `DeadLetterError` → `deadLetterMessage` with its message as
 *   `deadLetterReason`; any other error → retried: the adapter waits the retry delay while still holding the
 *   lock (auto-renewed; the wait is capped at `maxRetryHoldMs`, default 30 s, and cut short by `close()`),
 *   then abandons, because an abandoned message is redelivered at once. The wait occupies one of the
 *   `concurrency` slots. On the delivery numbered `maxDeliveries` a failure dead-letters the message instead.
 *   A message that arrives with a delivery count above `maxDeliveries` (its lock expired on the last allowed
 *   delivery: the receiver died, or the handler outran its lock) is dead-lettered without running the handler.
 * - locks: Service Bus locks are per subscription (`lockDurationMs`, default 60 s, set when created), so
 *   `SubscribeOptions.lockMs`, the embedded bus's lock, cannot be applied per receiver and is only validated.
 *   What keeps a long handler's lock is renewal: the SDK renews it until the message is settled, for at most
 *   `maxLockRenewalMs` (default 1 hour) per message; a handler running longer loses its lock, its settlement
 *   fails (reported to `onError`) and the message is delivered again.
 * - deliveryCount is 1 on the first delivery (the SDK reports 0: see messages.ts, `deliveryCountOf`).
 * - dead letters: `listDeadLetters` peeks the subscription's dead-letter sub-queue, every page.
 *   `replayDeadLetter` receives that sub-queue in peek-lock until it finds the port id, sends a copy (fresh
 *   `messageId`, `replayTo` = the subscription, `replayOf` = the id, dead-letter properties stripped) to the
 *   topic, completes the dead letter and abandons every other letter it looked at. The copy's delivery count
 *   starts afresh; only the subscription named in `replayTo` receives it, through the rule declare() creates.
 * - topology: with `manageTopology: true`, `declare()` creates what is missing (Manage right needed); with
 *   `false` (the default, for identities holding only Data Sender / Data Receiver) it leaves the namespace to
 *   the infrastructure templates and never fails. topology.ts lists what the templates must contain.
 * - errors: {@link ServiceBusBusError}, naming operation, topic, subscription and message id, redacted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ServiceBusAdministrationClient,
  ServiceBusClient,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
  type ServiceBusReceiverOptions,
  type ServiceBusSender,
  type TokenCredential,
} from '@azure/service-bus';
import type { Bus, MessageHandler, SubscribeOptions, Subscription } from '../../ports/bus.ts';
import { DeadLetterError } from '../../ports/bus.ts';
import {
  deadLetterProperties,
  deliveryCountOf,
  describe,
  type ErrorContext,
  failed,
  portIdOf,
  replayCopy,
  ServiceBusBusError,
  statusOf,
  toDeadLetter,
  toReceivedMessage,
  toServiceBusMessage,
} from './messages.ts';
import { ensureSubscription, type TopologyAdmin, type TopologySettings } from './topology.ts';

export { ServiceBusBusError } from './messages.ts';

/** Either a connection string (shared access key) or a namespace and an Entra ID credential. */
export type ServiceBusConnection =
  | { connectionString: string }
  | {
      /** `<namespace>.servicebus.windows.net` */
      fullyQualifiedNamespace: string;
      credential: TokenCredential;
    };

export interface ServiceBusBusSettings {
  /**
   * Create missing topics, subscriptions and replay rules in `declare()` (needs the Manage right). Default
   * false: the infrastructure templates own them and `declare()` does nothing.
   */
  manageTopology?: boolean;
  /** Prefix of every topic name on the namespace (isolates test runs; default none). */
  topicPrefix?: string;
  /** Duplicate-detection window of topics created here (default 10 minutes). */
  duplicateWindowMs?: number;
  /** Lock duration of subscriptions created here (default 60 s; Service Bus allows 5 s to 5 min). */
  lockDurationMs?: number;
  /** MaxDeliveryCount of subscriptions created here (default 100): must exceed every `maxDeliveries`. */
  maxDeliveryCount?: number;
  /** How long the SDK keeps renewing one message's lock while its handler runs (default 1 hour). */
  maxLockRenewalMs?: number;
  /** Renew locks at all (default true). Off only to act out a receiver that died. */
  lockRenewal?: boolean;
  /** Longest retry delay waited before abandoning a failed message (default 30 s); longer delays are cut to it. */
  maxRetryHoldMs?: number;
  /** How long a replay waits for more dead letters before deciding the id is not there (default 2 s). */
  deadLetterScanWaitMs?: number;
  /** Clock for dead-letter timestamps (default: the system clock). */
  now?: () => Date;
  /** Failures of the background receive loop (receive, renew, settle); default: `process.emitWarning`. */
  onError?: (error: ServiceBusBusError) => void;
}

export type ServiceBusBusOptions = ServiceBusConnection & ServiceBusBusSettings;

/** The client calls the adapter makes (a subset of `ServiceBusClient`). */
export interface ServiceBusClientPort {
  createSender(topic: string): BusSender;
  createReceiver(topic: string, subscription: string, options: ServiceBusReceiverOptions): BusReceiver;
  close(): Promise<void>;
}
export type BusSender = Pick<ServiceBusSender, 'createMessageBatch' | 'sendMessages' | 'close'>;
export type BusReceiver = Pick<
  ServiceBusReceiver,
  | 'subscribe'
  | 'receiveMessages'
  | 'peekMessages'
  | 'completeMessage'
  | 'abandonMessage'
  | 'deadLetterMessage'
  | 'close'
>;

export interface ServiceBusClients {
  client: ServiceBusClientPort;
  /** Needed only with `manageTopology: true`. */
  admin?: TopologyAdmin;
}

const peekPageSize = 100;
const replayScanBatch = 50;

/** The bus over a new `ServiceBusClient` (and an administration client when it manages topology). */
export function createServiceBusBus(options: ServiceBusBusOptions): Bus {
  let clients: ServiceBusClients;
  try {
    if ('connectionString' in options) {
      clients = {
        client: new ServiceBusClient(options.connectionString),
        ...(options.manageTopology
          ? { admin: new ServiceBusAdministrationClient(options.connectionString) }
          : {}),
      };
    } else {
      const { fullyQualifiedNamespace, credential } = options;
      clients = {
        client: new ServiceBusClient(fullyQualifiedNamespace, credential),
        ...(options.manageTopology
          ? { admin: new ServiceBusAdministrationClient(fullyQualifiedNamespace, credential) }
          : {}),
      };
    }
  } catch (error) {
    throw failed({ operation: 'connect' }, error);
  }
  return createServiceBusBusOver(clients, options);
}

/** The bus over given clients (tests pass fakes); `close()` closes them. */
export function createServiceBusBusOver(
  clients: ServiceBusClients,
  settings: ServiceBusBusSettings = {},
): Bus {
  const { client, admin } = clients;
  const now = settings.now ?? (() => new Date());
  const prefix = settings.topicPrefix ?? '';
  const onError =
    settings.onError ??
    ((error: ServiceBusBusError) => process.emitWarning(`Service Bus bus: ${error.message}`));
  const topology: TopologySettings = {
    duplicateWindowMs: settings.duplicateWindowMs ?? 10 * 60_000,
    lockDurationMs: settings.lockDurationMs ?? 60_000,
    maxDeliveryCount: settings.maxDeliveryCount ?? 100,
  };
  const receiverOptions: ServiceBusReceiverOptions = {
    receiveMode: 'peekLock',
    maxAutoLockRenewalDurationInMs:
      (settings.lockRenewal ?? true) ? (settings.maxLockRenewalMs ?? 3600_000) : 0,
    skipParsingBodyAsJson: true,
  };
  const runtime: ReceiverRuntime = {
    now,
    onError,
    maxRetryHoldMs: settings.maxRetryHoldMs ?? 30_000,
    onClosed: (receiver) => receivers.delete(receiver),
  };
  const senders = new Map<string, BusSender>();
  const receivers = new Set<{ close(): Promise<void> }>();
  let closed = false;

  const entity = (topic: string) => `${prefix}${topic}`;
  function ensureOpen(): void {
    if (closed) throw new Error('the Service Bus bus is closed');
  }
  function senderFor(topic: string): BusSender {
    let sender = senders.get(topic);
    if (!sender) {
      sender = client.createSender(entity(topic));
      senders.set(topic, sender);
    }
    return sender;
  }

  return {
    async declare(topic, subscription) {
      ensureOpen();
      if (!settings.manageTopology) return;
      if (!admin) throw new Error('manageTopology needs an administration client');
      try {
        await ensureSubscription(admin, entity(topic), subscription, topology);
      } catch (error) {
        const status = statusOf(error);
        if (status === 401 || status === 403) {
          throw new ServiceBusBusError(
            { operation: 'declare', topic, subscription },
            `${status}: the identity may not manage entities (Manage right); let the infrastructure create them ` +
              'and build the bus with manageTopology: false',
            'BUS_SERVICEBUS_FAILED',
            false,
            String(status),
          );
        }
        throw failed({ operation: 'declare', topic, subscription }, error);
      }
    },

    async publish(topic, messages) {
      ensureOpen();
      const seen = new Set<string>();
      const unique = messages.filter((m) => !seen.has(m.id) && seen.add(m.id));
      const outgoing = unique.map((m) => toServiceBusMessage(topic, m));
      if (outgoing.length === 0) return;
      const sender = senderFor(topic);
      try {
        let batch = await sender.createMessageBatch();
        for (const message of outgoing) {
          if (batch.tryAddMessage(message)) continue;
          if (batch.count > 0) {
            await sender.sendMessages(batch);
            batch = await sender.createMessageBatch();
            if (batch.tryAddMessage(message)) continue;
          }
          throw new ServiceBusBusError(
            { operation: 'publish', topic, messageId: String(message.messageId) },
            `the message is larger than Service Bus accepts (${batch.maxSizeInBytes} bytes a batch)`,
            'BUS_INVALID_MESSAGE',
          );
        }
        if (batch.count > 0) await sender.sendMessages(batch);
      } catch (error) {
        throw failed({ operation: 'publish', topic }, error);
      }
    },

    subscribe(topic, subscription, handler, subscribeOptions = {}) {
      ensureOpen();
      const spec = specFrom(topic, subscription, handler, subscribeOptions);
      let receiver: BusReceiver;
      try {
        receiver = client.createReceiver(entity(topic), subscription, receiverOptions);
      } catch (error) {
        throw failed({ operation: 'subscribe', topic, subscription }, error);
      }
      const started = startReceiver(receiver, spec, runtime);
      receivers.add(started);
      return started;
    },

    async listDeadLetters(topic, subscription) {
      ensureOpen();
      const receiver = client.createReceiver(entity(topic), subscription, {
        ...receiverOptions,
        subQueueType: 'deadLetter',
      });
      try {
        const letters = [];
        for (;;) {
          const page = await receiver.peekMessages(peekPageSize);
          if (page.length === 0) return letters;
          letters.push(...page.map((m) => toDeadLetter(topic, subscription, m)));
        }
      } catch (error) {
        throw failed({ operation: 'listDeadLetters', topic, subscription }, error);
      } finally {
        await receiver
          .close()
          .catch((error: unknown) => onError(failed({ operation: 'close', topic }, error)));
      }
    },

    async replayDeadLetter(topic, subscription, id) {
      ensureOpen();
      const context: ErrorContext = { operation: 'replayDeadLetter', topic, subscription, messageId: id };
      const receiver = client.createReceiver(entity(topic), subscription, {
        ...receiverOptions,
        subQueueType: 'deadLetter',
      });
      const passed: ServiceBusReceivedMessage[] = [];
      try {
        for (;;) {
          const batch = await receiver.receiveMessages(replayScanBatch, {
            maxWaitTimeInMs: settings.deadLetterScanWaitMs ?? 2000,
          });
          if (batch.length === 0) break;
          const match = batch.find((m) => portIdOf(m) === id);
          passed.push(...batch.filter((m) => m !== match));
          if (match) {
            // Send first, complete second: a crash between the two leaves a duplicate, never a loss.
            await senderFor(topic).sendMessages(replayCopy(subscription, match));
            await receiver.completeMessage(match);
            return;
          }
        }
      } catch (error) {
        throw failed(context, error);
      } finally {
        for (const letter of passed) {
          await receiver
            .abandonMessage(letter)
            .catch((error: unknown) => onError(failed({ ...context, messageId: portIdOf(letter) }, error)));
        }
        await receiver.close().catch((error: unknown) => onError(failed(context, error)));
      }
      throw new ServiceBusBusError(
        context,
        `no dead letter ${id} on ${topic}/${subscription}`,
        'BUS_DEAD_LETTER_NOT_FOUND',
      );
    },

    async close() {
      closed = true;
      await Promise.all([...receivers].map((receiver) => receiver.close()));
      for (const [topic, sender] of senders) {
        await sender.close().catch((error: unknown) => onError(failed({ operation: 'close', topic }, error)));
      }
      senders.clear();
      await client.close().catch((error: unknown) => onError(failed({ operation: 'close' }, error)));
    },
  };
}

interface ReceiverSpec {
  topic: string;
  subscription: string;
  handler: MessageHandler;
  maxDeliveries: number;
  concurrency: number;
  retryDelayMs: (deliveryCount: number) => number;
}

interface ReceiverRuntime {
  now: () => Date;
  onError: (error: ServiceBusBusError) => void;
  maxRetryHoldMs: number;
  onClosed: (receiver: Subscription) => void;
}

function startReceiver(receiver: BusReceiver, spec: ReceiverSpec, runtime: ReceiverRuntime): Subscription {
  const { topic, subscription } = spec;
  const inFlight = new Set<Promise<void>>();
  const stopping = new AbortController();
  let closing: Promise<void> | undefined;

  function deadLetter(
    message: ServiceBusReceivedMessage,
    reason: string,
    code: string,
    deliveryCount: number,
  ) {
    return receiver.deadLetterMessage(
      message,
      deadLetterProperties(reason, code, deliveryCount, runtime.now()),
    );
  }

  /** Never rejects: every failure ends as a settlement or in onError (then the lock expires: redelivery). */
  async function handle(message: ServiceBusReceivedMessage): Promise<void> {
    const context: ErrorContext = { operation: 'settle', topic, subscription, messageId: portIdOf(message) };
    try {
      if (stopping.signal.aborted) {
        await receiver.abandonMessage(message); // arrived while closing: leave it to the next receiver
        return;
      }
      const decoded = toReceivedMessage(topic, subscription, message, runtime.now);
      if (!decoded.ok) {
        await deadLetter(message, decoded.reason, 'InvalidMessage', deliveryCountOf(message));
        return;
      }
      const received = decoded.message;
      const count = received.deliveryCount;
      if (count > spec.maxDeliveries) {
        const reason = `delivery limit of ${spec.maxDeliveries} exceeded: the lock of an earlier delivery expired before it was settled`;
        await deadLetter(message, reason, 'DeliveryLimitExceeded', count);
        return;
      }
      let failure: { error: unknown } | undefined;
      try {
        await spec.handler(received);
      } catch (error) {
        failure = { error };
      }
      if (failure === undefined) {
        await receiver.completeMessage(message);
      } else if (failure.error instanceof DeadLetterError) {
        await deadLetter(message, describe(failure.error), 'DeadLetterError', count);
      } else if (count >= spec.maxDeliveries) {
        const reason = `delivery limit of ${spec.maxDeliveries} reached; last error: ${describe(failure.error)}`;
        await deadLetter(message, reason, 'DeliveryLimitReached', count);
      } else {
        await holdFor(retryDelay(spec, count));
        await receiver.abandonMessage(message);
      }
    } catch (error) {
      runtime.onError(failed(context, error));
    }
  }

  /** Waits while still holding the lock (the SDK keeps renewing it); close() cuts the wait short. */
  async function holdFor(ms: number): Promise<void> {
    const wait = Math.min(ms, runtime.maxRetryHoldMs);
    if (wait <= 0 || stopping.signal.aborted) return;
    await sleep(wait, undefined, { signal: stopping.signal }).catch(() => undefined);
  }

  const sdkSubscription = receiver.subscribe(
    {
      processMessage: (message) => {
        const run = handle(message).finally(() => inFlight.delete(run));
        inFlight.add(run);
        return run;
      },
      processError: async ({ error }) =>
        runtime.onError(failed({ operation: 'receive', topic, subscription }, error)),
    },
    { autoCompleteMessages: false, maxConcurrentCalls: spec.concurrency },
  );

  const self: Subscription = {
    close() {
      closing ??= (async () => {
        stopping.abort();
        await sdkSubscription
          .close()
          .catch((error: unknown) =>
            runtime.onError(failed({ operation: 'close', topic, subscription }, error)),
          );
        while (inFlight.size > 0) await Promise.all(inFlight);
        await receiver
          .close()
          .catch((error: unknown) =>
            runtime.onError(failed({ operation: 'close', topic, subscription }, error)),
          );
        runtime.onClosed(self);
      })();
      return closing;
    },
  };
  return self;
}

function specFrom(
  topic: string,
  subscription: string,
  handler: MessageHandler,
  options: SubscribeOptions,
): ReceiverSpec {
  const checked = {
    lockMs: options.lockMs ?? 60_000,
    maxDeliveries: options.maxDeliveries ?? 10,
    concurrency: options.concurrency ?? 1,
  };
  for (const [key, value] of Object.entries(checked)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`${key} must be a positive integer, got ${value}`);
  }
  return {
    topic,
    subscription,
    handler,
    maxDeliveries: checked.maxDeliveries,
    concurrency: checked.concurrency,
    retryDelayMs: options.retryDelayMs ?? defaultRetryDelayMs,
  };
}

function defaultRetryDelayMs(deliveryCount: number): number {
  return Math.min(30_000, 200 * 2 ** Math.max(0, deliveryCount - 1));
}

function retryDelay(spec: ReceiverSpec, deliveryCount: number): number {
  const delay = spec.retryDelayMs(deliveryCount);
  return Number.isFinite(delay) && delay > 0 ? delay : 0;
}
