/**
 * Every process declares every subscription before it publishes anything, as Service Bus infrastructure
 * would: a message published before its consumer's process has started must wait for it, not be lost.
 */
import { subscriptions as topology } from '../contracts/messages.ts';
import type { Bus } from '../ports/bus.ts';

export async function declareTopology(bus: Bus): Promise<void> {
  for (const [service, serviceTopics] of Object.entries(topology)) {
    for (const topic of serviceTopics) await bus.declare(topic, service);
  }
}
