/**
 * The bus in the embedded SQLite file, with Service Bus semantics. A publish copies each message to every
 * subscription its topic has at that moment; a message id is remembered per topic for a duplicate-detection
 * window. Receivers poll (and are woken at once by publishes from this process), claim messages by setting a
 * lock (visible_at moves to now + lockMs, a fresh lock token, deliveryCount + 1) inside an IMMEDIATE
 * transaction, renew the lock while the handler runs, and settle with the same token: complete deletes,
 * abandon makes the message visible again after the retry delay, dead-lettering moves it aside. A receiver
 * that dies simply stops renewing; its lock expires and another receiver gets the message (at-least-once).
 * A bus opened on the same host releases at once the locks of processes that are gone (see lockOwnerIsDead).
 */
import type { Bus, MessageHandler, SubscribeOptions } from '../../ports/bus.ts';
import { DeadLetterError } from '../../ports/bus.ts';
import { type BusStore, type Claimed, type ClaimSpec, prepareBusStore } from './bus-sqlite-store.ts';
import type { SqliteDatabase } from './database.ts';

export interface SqliteBusOptions {
  /** Clock for visibility, locks and timestamps (default: the system clock). */
  now?: () => Date;
  /** How often an idle receiver looks for messages published by other processes (default 50 ms). */
  pollIntervalMs?: number;
  /** Renew a running handler's lock every lockMs / 2 (default true). Off only to act out a receiver that died. */
  lockRenewal?: boolean;
  /** How long a published id is remembered so that a second publish of it is dropped (default 7 days). */
  duplicateWindowMs?: number;
  /** Let open subscriptions keep the process alive (default false: their timers are unref'd). */
  keepAlive?: boolean;
  /** Failures of the background receive loop (poll, settle, renew); default: `process.emitWarning`. */
  onError?: (error: unknown) => void;
  /** Told how many message locks of processes that are gone were released at start (only when some were). */
  onLocksReleased?: (count: number) => void;
}

interface ReceiverSettings extends ClaimSpec {
  handler: MessageHandler;
  concurrency: number;
  retryDelayMs: (deliveryCount: number) => number;
}

/** The bus over an open database; `close()` stops its receivers but leaves the database to its opener. */
export function createSqliteBus(db: SqliteDatabase, options: SqliteBusOptions = {}): Bus {
  const clock = options.now ?? (() => new Date());
  const store = prepareBusStore(db, () => clock().getTime(), options.duplicateWindowMs ?? 7 * 24 * 3600_000);
  const runtime = {
    pollIntervalMs: options.pollIntervalMs ?? 50,
    lockRenewal: options.lockRenewal ?? true,
    keepAlive: options.keepAlive ?? false,
    onError: options.onError ?? ((error: unknown) => process.emitWarning(`SQLite bus: ${describe(error)}`)),
  };
  const receivers = new Set<Receiver>();
  let closed = false;
  // A process that died holding locks (kill -9, a crash) would otherwise stall its messages for lockMs.
  const released = store.releaseOrphanedLocks();
  const onLocksReleased =
    options.onLocksReleased ??
    ((n: number) =>
      process.emitWarning(`SQLite bus: released ${n} message lock(s) of processes that are gone`));
  if (released > 0) onLocksReleased(released);

  function ensureOpen(): void {
    if (closed) throw new Error('the SQLite bus is closed');
  }
  function wake(topic: string): void {
    for (const receiver of receivers) if (receiver.topic === topic) receiver.wake();
  }

  return {
    async declare(topic, subscription) {
      ensureOpen();
      store.declare(topic, subscription);
    },
    async publish(topic, messages) {
      ensureOpen();
      store.publish(topic, messages);
      wake(topic);
    },
    subscribe(topic, subscription, handler, subscribeOptions = {}) {
      ensureOpen();
      const settings = settingsFrom(topic, subscription, handler, subscribeOptions);
      const receiver = startReceiver(store, settings, {
        ...runtime,
        onClosed: () => receivers.delete(receiver),
      });
      receivers.add(receiver);
      return { close: receiver.close };
    },
    async listDeadLetters(topic, subscription) {
      ensureOpen();
      return store.deadLetters(topic, subscription);
    },
    async replayDeadLetter(topic, subscription, id) {
      ensureOpen();
      store.replay(topic, subscription, id);
      wake(topic);
    },
    async close() {
      closed = true;
      await Promise.all([...receivers].map((receiver) => receiver.close()));
    },
  };
}

interface Receiver {
  topic: string;
  wake(): void;
  close(): Promise<void>;
}

interface ReceiverRuntime {
  pollIntervalMs: number;
  lockRenewal: boolean;
  keepAlive: boolean;
  onError: (error: unknown) => void;
  onClosed: () => void;
}

function startReceiver(store: BusStore, settings: ReceiverSettings, runtime: ReceiverRuntime): Receiver {
  const inFlight = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  function schedule(delayMs: number): void {
    if (closing) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(poll, delayMs);
    if (!runtime.keepAlive) timer.unref();
  }

  function poll(): void {
    timer = undefined;
    if (closing) return;
    const free = settings.concurrency - inFlight.size;
    if (free <= 0) return; // a finishing handler polls again
    try {
      for (const claimed of store.claim(settings, free)) start(claimed);
    } catch (error) {
      runtime.onError(error);
    }
    schedule(runtime.pollIntervalMs);
  }

  function start(claimed: Claimed): void {
    const run = handle(claimed).finally(() => {
      inFlight.delete(run);
      schedule(0);
    });
    inFlight.add(run);
  }

  /** Never rejects: every failure ends as a settlement or in onError. */
  async function handle({ seq, token, message }: Claimed): Promise<void> {
    const renewal = runtime.lockRenewal ? renewWhileRunning(seq, token) : undefined;
    let failure: { error: unknown } | undefined;
    try {
      await settings.handler(message);
    } catch (error) {
      failure = { error };
    } finally {
      clearInterval(renewal);
    }
    try {
      settle(seq, token, message.deliveryCount, failure);
    } catch (error) {
      runtime.onError(error); // the lock expires and the message is delivered again
    }
  }

  function settle(seq: number, token: string, deliveryCount: number, failure?: { error: unknown }): void {
    if (failure === undefined) {
      store.complete(seq, token);
    } else if (failure.error instanceof DeadLetterError) {
      store.deadLetter(seq, token, describe(failure.error));
    } else if (deliveryCount >= settings.maxDeliveries) {
      const last = describe(failure.error);
      store.deadLetter(
        seq,
        token,
        `delivery limit of ${settings.maxDeliveries} reached; last error: ${last}`,
      );
    } else {
      store.abandon(seq, token, retryDelay(settings, deliveryCount));
    }
  }

  function renewWhileRunning(seq: number, token: string): NodeJS.Timeout {
    const interval = setInterval(
      () => {
        try {
          if (!store.renew(seq, token, settings.lockMs)) clearInterval(interval);
        } catch (error) {
          runtime.onError(error);
        }
      },
      Math.max(1, Math.floor(settings.lockMs / 2)),
    );
    interval.unref();
    return interval;
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      clearTimeout(timer);
      timer = undefined;
      while (inFlight.size > 0) await Promise.all(inFlight);
      runtime.onClosed();
    })();
    return closing;
  }

  schedule(0);
  return { topic: settings.topic, wake: () => schedule(0), close };
}

function settingsFrom(
  topic: string,
  subscription: string,
  handler: MessageHandler,
  options: SubscribeOptions,
): ReceiverSettings {
  const settings = {
    topic,
    subscription,
    handler,
    lockMs: options.lockMs ?? 60_000,
    maxDeliveries: options.maxDeliveries ?? 10,
    concurrency: options.concurrency ?? 1,
    retryDelayMs: options.retryDelayMs ?? defaultRetryDelayMs,
  };
  for (const key of ['lockMs', 'maxDeliveries', 'concurrency'] as const) {
    const value = settings[key];
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`${key} must be a positive integer, got ${value}`);
  }
  return settings;
}

function defaultRetryDelayMs(deliveryCount: number): number {
  return Math.min(30_000, 200 * 2 ** Math.max(0, deliveryCount - 1));
}

function retryDelay(settings: ReceiverSettings, deliveryCount: number): number {
  const delay = settings.retryDelayMs(deliveryCount);
  return Number.isFinite(delay) && delay > 0 ? delay : 0;
}

/** The error's message only: stacks and causes stay out of dead-letter reasons and warnings. */
function describe(error: unknown): string {
  if (error instanceof DeadLetterError) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === 'string') return error;
  return `a non-Error value (${typeof error}) was thrown`;
}
