/**
 * Topics and subscriptions of the Service Bus adapter, created through the administration client (needs the
 * Manage right) when the bus is built with `manageTopology: true`. In production the Bicep templates create
 * them and the services' identities hold only Data Sender / Data Receiver, so `declare()` leaves the
 * namespace alone; the templates must then create exactly what {@link ensureSubscription} would:
 *
 * - each topic with duplicate detection on (`requiresDuplicateDetection: true`) and a history window
 *   (default 10 minutes, `duplicateDetectionHistoryTimeWindow: 'PT10M'`);
 * - each subscription with the lock duration, the max delivery count, and one rule, {@link REPLAY_RULE},
 *   `replayTo IS NULL OR replayTo = '<subscription>'`, in place of `$Default`, so that a replayed dead letter
 *   reaches only the subscription it came from. Without that rule a replayed copy reaches every subscription.
 *
 * Every step is create-if-missing, and a 409 from a concurrent creator counts as success.
 */
import type { CreateSubscriptionOptions, CreateTopicOptions, SqlRuleFilter } from '@azure/service-bus';
import { REPLAY_TO, statusOf } from './messages.ts';

/** The administration calls the adapter makes (what it needs of `ServiceBusAdministrationClient`). */
export interface TopologyAdmin {
  topicExists(topic: string): Promise<boolean>;
  createTopic(topic: string, options: CreateTopicOptions): Promise<unknown>;
  subscriptionExists(topic: string, subscription: string): Promise<boolean>;
  createSubscription(
    topic: string,
    subscription: string,
    options: CreateSubscriptionOptions,
  ): Promise<unknown>;
  ruleExists(topic: string, subscription: string, rule: string): Promise<boolean>;
  createRule(topic: string, subscription: string, rule: string, filter: SqlRuleFilter): Promise<unknown>;
  deleteRule(topic: string, subscription: string, rule: string): Promise<unknown>;
}

export interface TopologySettings {
  /** Duplicate-detection history window of created topics, in ms (Service Bus allows 20 s to 7 days). */
  duplicateWindowMs: number;
  /** Peek-lock duration of created subscriptions, in ms (Service Bus allows 5 s to 5 min). */
  lockDurationMs: number;
  /** The broker's MaxDeliveryCount of created subscriptions: a backstop above every `maxDeliveries`. */
  maxDeliveryCount: number;
}

/** The name of each subscription's only rule. */
export const REPLAY_RULE = 'replay-target';
const DEFAULT_RULE = '$Default';

/** The SQL filter of a subscription: ordinary messages, and replayed copies addressed to it. */
export function replayFilter(subscription: string): string {
  return `${REPLAY_TO} IS NULL OR ${REPLAY_TO} = '${subscription.replaceAll("'", "''")}'`;
}

/** An ISO 8601 duration in whole seconds, as the administration API takes it. */
export function isoDuration(ms: number): string {
  return `PT${Math.max(1, Math.round(ms / 1000))}S`;
}

/** A create that lost a race against another process's create of the same entity is fine. */
async function createIfMissing(
  exists: () => Promise<boolean>,
  create: () => Promise<unknown>,
): Promise<boolean> {
  if (await exists()) return false;
  try {
    await create();
    return true;
  } catch (error) {
    if (statusOf(error) === 409) return false;
    throw error;
  }
}

/**
 * Creates the topic (duplicate detection on) and the subscription (with the replay rule) if missing. On a
 * subscription that already existed, adds the replay rule if missing and removes `$Default`.
 */
export async function ensureSubscription(
  admin: TopologyAdmin,
  topic: string,
  subscription: string,
  settings: TopologySettings,
): Promise<void> {
  await createIfMissing(
    () => admin.topicExists(topic),
    () =>
      admin.createTopic(topic, {
        requiresDuplicateDetection: true,
        duplicateDetectionHistoryTimeWindow: isoDuration(settings.duplicateWindowMs),
      }),
  );
  const filter = { sqlExpression: replayFilter(subscription) };
  const created = await createIfMissing(
    () => admin.subscriptionExists(topic, subscription),
    () =>
      admin.createSubscription(topic, subscription, {
        lockDuration: isoDuration(settings.lockDurationMs),
        maxDeliveryCount: settings.maxDeliveryCount,
        deadLetteringOnMessageExpiration: true,
        defaultRuleOptions: { name: REPLAY_RULE, filter },
      }),
  );
  if (created) return;
  await createIfMissing(
    () => admin.ruleExists(topic, subscription, REPLAY_RULE),
    () => admin.createRule(topic, subscription, REPLAY_RULE, filter),
  );
  if (await admin.ruleExists(topic, subscription, DEFAULT_RULE)) {
    try {
      await admin.deleteRule(topic, subscription, DEFAULT_RULE);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
  }
}
