/**
 * What the Service Bus adapter puts on the wire and reads back: port messages ↔ Service Bus messages, the
 * application properties the adapter reserves for itself, and its redacted errors.
 *
 * - Body: the port body as JSON bytes (`contentType: application/json`), parsed here on receipt (receivers
 *   run with `skipParsingBodyAsJson`, so a body that is not JSON is noticed instead of arriving as bytes).
 * - `messageId` is the port id (duplicate detection works on it). A replayed copy gets a fresh `messageId`
 *   and carries the port id in `replayOf`; `replayTo` names the one subscription that may receive it.
 * - Publisher properties travel as application properties, unchanged; the adapter's own properties
 *   ({@link reservedProperties}) and the broker's `DeadLetterReason` / `DeadLetterErrorDescription` are
 *   stripped before a handler, a dead-letter listing or a replayed copy sees them.
 * - When the adapter dead-letters a message it also writes `deadLetteredAt` and `deliveriesBeforeDeadLetter`:
 *   the broker keeps neither in a form a peek reports reliably (and scanning a dead-letter sub-queue for a
 *   replay abandons, so increments, the delivery count of the letters it passes).
 */
import { randomUUID } from 'node:crypto';
import {
  isServiceBusError,
  type ServiceBusMessage,
  type ServiceBusReceivedMessage,
} from '@azure/service-bus';
import type { DeadLetter, OutgoingMessage, ReceivedMessage } from '../../ports/bus.ts';
import { DeadLetterError } from '../../ports/bus.ts';
import { redactText } from '../fhir-http/redact.ts';

/** Application property naming the only subscription that receives a replayed copy (see topology.ts). */
export const REPLAY_TO = 'replayTo';
/** Application property carrying the port id of a replayed copy (its `messageId` is fresh). */
export const REPLAY_OF = 'replayOf';
const DEAD_LETTERED_AT = 'deadLetteredAt';
const DELIVERIES_BEFORE_DEAD_LETTER = 'deliveriesBeforeDeadLetter';

/** Properties the adapter writes itself; a publisher may not set them. */
export const reservedProperties: ReadonlySet<string> = new Set([
  REPLAY_TO,
  REPLAY_OF,
  DEAD_LETTERED_AT,
  DELIVERIES_BEFORE_DEAD_LETTER,
]);
/** Set by the broker on dead-lettering; never handed back as publisher properties. */
const brokerProperties: ReadonlySet<string> = new Set(['DeadLetterReason', 'DeadLetterErrorDescription']);

/** Service Bus limits `messageId` to 128 characters. */
const maxMessageIdLength = 128;
/** Dead-letter reasons and descriptions are kept short: they travel in the message's properties. */
const maxReasonLength = 1000;
const JSON_CONTENT_TYPE = 'application/json';

export type Operation =
  | 'connect'
  | 'declare'
  | 'publish'
  | 'subscribe'
  | 'settle'
  | 'receive'
  | 'listDeadLetters'
  | 'replayDeadLetter'
  | 'close';

export interface ErrorContext {
  operation: Operation;
  topic?: string;
  subscription?: string;
  messageId?: string;
}

/**
 * A Service Bus call failed, or the adapter refused one. Names the operation, topic, subscription and message
 * id; the message is redacted (no SharedAccessKey, SAS or token), and the cause is not attached, because SDK
 * errors may carry the connection string or request details.
 */
export class ServiceBusBusError extends Error {
  readonly operation: Operation;
  readonly topic: string | undefined;
  readonly subscription: string | undefined;
  readonly messageId: string | undefined;
  constructor(
    context: ErrorContext,
    detail: string,
    readonly code:
      | 'BUS_SERVICEBUS_FAILED'
      | 'BUS_DEAD_LETTER_NOT_FOUND'
      | 'BUS_INVALID_MESSAGE' = 'BUS_SERVICEBUS_FAILED',
    /** Whether trying again later may succeed (the SDK's `retryable`, or a 429/503). */
    readonly transient = false,
    /** The Service Bus error code (`MessagingEntityNotFound`, `UnauthorizedAccess`, …) or HTTP status. */
    readonly serviceBusCode?: string,
  ) {
    super(redactText(`service bus ${context.operation} failed${where(context)}: ${detail}`));
    this.name = 'ServiceBusBusError';
    this.operation = context.operation;
    this.topic = context.topic;
    this.subscription = context.subscription;
    this.messageId = context.messageId;
  }
}

function where({ topic, subscription, messageId }: ErrorContext): string {
  const entity = [topic, subscription].filter((part) => part !== undefined).join('/');
  return `${entity ? ` for ${entity}` : ''}${messageId !== undefined ? ` (message ${messageId})` : ''}`;
}

/** Wraps any failure as a {@link ServiceBusBusError}, keeping one that already is. */
export function failed(context: ErrorContext, error: unknown): ServiceBusBusError {
  if (error instanceof ServiceBusBusError) return error;
  if (isServiceBusError(error)) {
    return new ServiceBusBusError(
      context,
      `${error.code}: ${error.message}`,
      'BUS_SERVICEBUS_FAILED',
      error.retryable,
      error.code,
    );
  }
  const status = statusOf(error);
  const code = codeOf(error);
  const label = [status, code].filter((part) => part !== undefined).join(' ');
  const message = error instanceof Error ? error.message : String(error);
  return new ServiceBusBusError(
    context,
    label ? `${label}: ${message}` : message,
    'BUS_SERVICEBUS_FAILED',
    status === 429 || status === 503,
    code ?? (status !== undefined ? String(status) : undefined),
  );
}

/** The HTTP status of an administration (REST) failure. */
export function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('statusCode' in error)) return undefined;
  return typeof error.statusCode === 'number' ? error.statusCode : undefined;
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** The error's message only: stacks and causes stay out of dead-letter reasons. */
export function describe(error: unknown): string {
  if (error instanceof DeadLetterError) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === 'string') return error;
  return `a non-Error value (${typeof error}) was thrown`;
}

export function truncate(text: string): string {
  return text.length > maxReasonLength ? `${text.slice(0, maxReasonLength - 1)}…` : text;
}

/** The Service Bus message for a port message; refuses what Service Bus or the adapter could not carry. */
export function toServiceBusMessage(topic: string, message: OutgoingMessage): ServiceBusMessage {
  const context: ErrorContext = { operation: 'publish', topic, messageId: message.id };
  if (typeof message.id !== 'string' || message.id.length === 0 || message.id.length > maxMessageIdLength) {
    throw new ServiceBusBusError(
      context,
      `a message id must be 1 to ${maxMessageIdLength} characters`,
      'BUS_INVALID_MESSAGE',
    );
  }
  const applicationProperties: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.properties ?? {})) {
    if (reservedProperties.has(name) || brokerProperties.has(name)) {
      throw new ServiceBusBusError(
        context,
        `application property ${name} is reserved by the bus`,
        'BUS_INVALID_MESSAGE',
      );
    }
    if (typeof value !== 'string') {
      throw new ServiceBusBusError(
        context,
        `application property ${name} must be a string`,
        'BUS_INVALID_MESSAGE',
      );
    }
    applicationProperties[name] = value;
  }
  let json: string;
  try {
    json = JSON.stringify(message.body ?? null);
  } catch (error) {
    throw new ServiceBusBusError(
      context,
      `the body is not serialisable: ${describe(error)}`,
      'BUS_INVALID_MESSAGE',
    );
  }
  return {
    messageId: message.id,
    body: Buffer.from(json, 'utf8'),
    contentType: JSON_CONTENT_TYPE,
    applicationProperties,
    ...(message.deliverAt ? { scheduledEnqueueTimeUtc: message.deliverAt } : {}),
  };
}

/** The port id of a received or dead-lettered message: `replayOf` on a replayed copy, else `messageId`. */
export function portIdOf(message: ServiceBusReceivedMessage): string {
  const replayOf = message.applicationProperties?.[REPLAY_OF];
  if (typeof replayOf === 'string' && replayOf.length > 0) return replayOf;
  const id = message.messageId;
  if (typeof id === 'string') return id;
  if (typeof id === 'number') return String(id);
  return id ? Buffer.from(id).toString('hex') : '';
}

/** The publisher's properties: reserved and broker properties removed, values as strings. */
export function publisherProperties(message: ServiceBusReceivedMessage): Record<string, string> {
  const properties: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.applicationProperties ?? {})) {
    if (reservedProperties.has(name) || brokerProperties.has(name) || value === null || value === undefined)
      continue;
    properties[name] = value instanceof Date ? value.toISOString() : String(value);
  }
  return properties;
}

function withProperties<T extends object>(value: T, properties: Record<string, string>): T {
  return Object.keys(properties).length > 0 ? { ...value, properties } : value;
}

/** The body a publisher sent: JSON bytes parsed; anything else (sent by another client) as it came. */
export function decodeBody(body: unknown): { ok: true; body: unknown } | { ok: false; reason: string } {
  if (!(body instanceof Uint8Array) && typeof body !== 'string') return { ok: true, body };
  const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
  try {
    return { ok: true, body: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: 'the message body is not JSON' };
  }
}

/**
 * The SDK reports the AMQP header's delivery-count, which counts earlier failed deliveries (0 on the first),
 * while the broker's DeliveryCount and its MaxDeliveryCount count deliveries (1 on the first). The port's
 * count is the broker's.
 */
export function deliveryCountOf(message: ServiceBusReceivedMessage): number {
  return (message.deliveryCount ?? 0) + 1;
}

export function toReceivedMessage(
  topic: string,
  subscription: string,
  message: ServiceBusReceivedMessage,
  now: () => Date,
): { ok: true; message: ReceivedMessage } | { ok: false; reason: string } {
  const decoded = decodeBody(message.body);
  if (!decoded.ok) return decoded;
  const id = portIdOf(message);
  if (id === '') return { ok: false, reason: 'the message has no messageId' };
  return {
    ok: true,
    message: withProperties(
      {
        id,
        topic,
        subscription,
        body: decoded.body,
        deliveryCount: deliveryCountOf(message),
        enqueuedAt: message.enqueuedTimeUtc ?? now(),
      },
      publisherProperties(message),
    ),
  };
}

/** Properties written with `deadLetterMessage`, so that a listing reports when and after how many deliveries. */
export function deadLetterProperties(
  reason: string,
  description: string,
  deliveryCount: number,
  now: Date,
): { deadLetterReason: string; deadLetterErrorDescription: string } & Record<string, string | number> {
  return {
    deadLetterReason: truncate(reason),
    deadLetterErrorDescription: truncate(description),
    [DEAD_LETTERED_AT]: now.toISOString(),
    [DELIVERIES_BEFORE_DEAD_LETTER]: deliveryCount,
  };
}

/**
 * A peeked dead letter as the port's DeadLetter. The reason is the broker's `DeadLetterReason`, followed by
 * its description when the broker dead-lettered it (`MaxDeliveryCountExceeded: …`, `TTLExpiredException: …`).
 */
export function toDeadLetter(
  topic: string,
  subscription: string,
  message: ServiceBusReceivedMessage,
): DeadLetter {
  const properties = message.applicationProperties ?? {};
  const decoded = decodeBody(message.body);
  const recordedCount = Number(properties[DELIVERIES_BEFORE_DEAD_LETTER]);
  const recordedAt = properties[DEAD_LETTERED_AT];
  const at = typeof recordedAt === 'string' ? new Date(recordedAt) : undefined;
  const reasonParts = [message.deadLetterReason, message.deadLetterErrorDescription].filter(
    (part): part is string => typeof part === 'string' && part.length > 0,
  );
  const ours = recordedAt !== undefined;
  return withProperties(
    {
      id: portIdOf(message),
      topic,
      subscription,
      body: decoded.ok ? decoded.body : message.body,
      deliveryCount:
        Number.isSafeInteger(recordedCount) && recordedCount > 0 ? recordedCount : deliveryCountOf(message),
      reason: (ours ? reasonParts.slice(0, 1) : reasonParts).join(': ') || 'dead-lettered by Service Bus',
      deadLetteredAt: at && !Number.isNaN(at.getTime()) ? at : (message.enqueuedTimeUtc ?? new Date(0)),
    },
    publisherProperties(message),
  );
}

/**
 * The copy of a dead letter sent back to its topic: the same body and publisher properties, dead-letter
 * properties stripped, a fresh `messageId` (the topic's duplicate detection has seen the old one), the port id
 * in `replayOf` and the one subscription that may receive it in `replayTo`.
 */
export function replayCopy(subscription: string, dead: ServiceBusReceivedMessage): ServiceBusMessage {
  return {
    messageId: randomUUID(),
    body: dead.body,
    contentType: dead.contentType ?? JSON_CONTENT_TYPE,
    applicationProperties: {
      ...publisherProperties(dead),
      [REPLAY_TO]: subscription,
      [REPLAY_OF]: portIdOf(dead),
    },
  };
}
