/**
 * Topics with subscriptions, as on Azure Service Bus: each subscription of a topic gets its own copy of
 * every message published after it was declared. At-least-once delivery with a lock (visibility timeout),
 * delivery counts, delayed delivery, dead-lettering after a maximum and replay of dead letters.
 * Adapters: SQLite (embedded), Service Bus (Azure). Contract: testing/bus-contract.ts.
 */

export interface OutgoingMessage {
  /** Deterministic id (e.g. the event id it announces); a second publish of the same id to a topic is ignored. */
  id: string;
  body: unknown;
  /** Deliver no earlier than this instant (scheduled message). */
  deliverAt?: Date;
  /**
   * Application properties carried beside the body (W3C trace context: `traceparent`, `tracestate`).
   * Adapters deliver them unchanged, also after dead-lettering and replay.
   */
  properties?: Readonly<Record<string, string>>;
}

export interface ReceivedMessage {
  id: string;
  topic: string;
  subscription: string;
  body: unknown;
  /** 1 on first delivery. */
  deliveryCount: number;
  enqueuedAt: Date;
  /** The publisher's application properties, if any. */
  properties?: Readonly<Record<string, string>>;
}

export interface DeadLetter {
  id: string;
  topic: string;
  subscription: string;
  body: unknown;
  deliveryCount: number;
  reason: string;
  deadLetteredAt: Date;
  properties?: Readonly<Record<string, string>>;
}

/** Throw from a handler to dead-letter the message at once (a message that can never succeed). */
export class DeadLetterError extends Error {
  readonly code = 'DEAD_LETTER';
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'DeadLetterError';
  }
}

export interface SubscribeOptions {
  /** How long a delivered message stays invisible to other receivers while its handler runs. */
  lockMs?: number;
  /** After this many failed deliveries the message is dead-lettered (default 10). */
  maxDeliveries?: number;
  /** Messages handled at once by this receiver (default 1). */
  concurrency?: number;
  /** Delay before a failed message is offered again (default: exponential from 200 ms, capped at 30 s). */
  retryDelayMs?: (deliveryCount: number) => number;
}

/**
 * Handler contract: resolve → the message is completed; throw → it is abandoned and redelivered later
 * (deliveryCount + 1) until maxDeliveries; throw {@link DeadLetterError} → dead-lettered with its message.
 */
export type MessageHandler = (message: ReceivedMessage) => Promise<void>;

export interface Subscription {
  /** Stops receiving; resolves when in-flight handlers have finished. */
  close(): Promise<void>;
}

export interface Bus {
  /** Creates the subscription if it does not exist (idempotent). */
  declare(topic: string, subscription: string): Promise<void>;
  publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  subscribe(
    topic: string,
    subscription: string,
    handler: MessageHandler,
    options?: SubscribeOptions,
  ): Subscription;
  listDeadLetters(topic: string, subscription: string): Promise<DeadLetter[]>;
  /** Moves a dead letter back to its subscription with a fresh delivery count. */
  replayDeadLetter(topic: string, subscription: string, id: string): Promise<void>;
  close(): Promise<void>;
}
