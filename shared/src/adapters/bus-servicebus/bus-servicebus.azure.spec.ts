/**
 * The Service Bus adapter against a real namespace: the Bus contract suite and the adapter's own promises
 * (replay reaches one subscription, properties survive dead-lettering and replay). There is no Service Bus
 * emulator to run here, so this file runs only when SERVICEBUS_CONNECTION_STRING names a namespace whose key
 * may manage entities (the tests create their topics, under a per-test prefix, and delete them afterwards).
 * Without it every test is reported as skipped, with the reason in the suite's name and on stderr.
 */
import { randomUUID } from 'node:crypto';
import { ServiceBusAdministrationClient } from '@azure/service-bus';
import { describe, expect, it } from 'vitest';
import type { Bus, ReceivedMessage } from '../../ports/bus.ts';
import { DeadLetterError } from '../../ports/bus.ts';
import { busContract } from '../../testing/bus-contract.ts';
import { createServiceBusBus, type ServiceBusBusSettings } from './bus-servicebus.ts';

const connectionString = process.env.SERVICEBUS_CONNECTION_STRING;
const skipReason = 'SERVICEBUS_CONNECTION_STRING is not set';
if (!connectionString) console.warn(`Bus contract: Service Bus — skipped: ${skipReason}`);

const runId = randomUUID().slice(0, 8);
let namespaces = 0;

/** A topic prefix of its own, buses over it, and a cleanup that deletes every topic under the prefix. */
function isolatedNamespace(conn: string) {
  const topicPrefix = `fm-${runId}-${++namespaces}-`;
  const buses: Bus[] = [];
  const settings: ServiceBusBusSettings = {
    topicPrefix,
    manageTopology: true,
    // The shortest lock Service Bus allows, so that a receiver acting out a dead process loses it soon.
    lockDurationMs: 5000,
    duplicateWindowMs: 60_000,
  };
  return {
    open(extra: ServiceBusBusSettings = {}): Bus {
      const bus = createServiceBusBus({ connectionString: conn, ...settings, ...extra });
      buses.push(bus);
      return bus;
    },
    async cleanup(): Promise<void> {
      for (const bus of buses) await bus.close();
      const admin = new ServiceBusAdministrationClient(conn);
      for await (const topic of admin.listTopics()) {
        if (topic.name.startsWith(topicPrefix)) await admin.deleteTopic(topic.name);
      }
    },
  };
}

async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.skipIf(!connectionString)(
  connectionString
    ? 'Service Bus bus on the namespace of SERVICEBUS_CONNECTION_STRING'
    : `Bus contract: Service Bus — skipped: ${skipReason}`,
  () => {
    const conn = connectionString ?? '';

    busContract('Service Bus', async () => {
      const namespace = isolatedNamespace(conn);
      return {
        bus: namespace.open(),
        connect: async ({ lockRenewal }) => namespace.open({ lockRenewal }),
        cleanup: namespace.cleanup,
        // Locks are set per subscription, 5 s at the shortest (lockDurationMs above).
        lockExpiryMs: 5000,
      };
    });

    it('replays a dead letter to its own subscription only, with its application properties', async () => {
      const namespace = isolatedNamespace(conn);
      try {
        const bus = namespace.open();
        await bus.declare('chunks', 'a');
        await bus.declare('chunks', 'b');
        await bus.declare('chunks', 'b'); // idempotent on existing entities
        const a: ReceivedMessage[] = [];
        const b: ReceivedMessage[] = [];
        let healthy = false;
        bus.subscribe('chunks', 'a', async (m) => {
          a.push(m);
          if (!healthy) throw new DeadLetterError('not yet');
        });
        bus.subscribe('chunks', 'b', async (m) => void b.push(m));
        const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
        await bus.publish('chunks', [{ id: 'm', body: { keep: 'me' }, properties: { traceparent } }]);
        await eventually(
          async () => (await bus.listDeadLetters('chunks', 'a')).length === 1,
          'the dead letter',
        );
        const [dead] = await bus.listDeadLetters('chunks', 'a');
        expect(dead).toMatchObject({
          id: 'm',
          reason: 'not yet',
          deliveryCount: 1,
          properties: { traceparent },
        });
        healthy = true;
        await bus.replayDeadLetter('chunks', 'a', 'm');
        await eventually(() => a.length === 2, 'the replayed copy arrives');
        await new Promise((resolve) => setTimeout(resolve, 2000));
        expect(a.map((m) => [m.id, m.deliveryCount, m.properties])).toEqual([
          ['m', 1, { traceparent }],
          ['m', 1, { traceparent }],
        ]);
        expect(b.map((m) => m.id)).toEqual(['m']);
        expect(await bus.listDeadLetters('chunks', 'a')).toEqual([]);
        await expect(bus.replayDeadLetter('chunks', 'a', 'm')).rejects.toThrow(/no dead letter m/);
      } finally {
        await namespace.cleanup();
      }
    });
  },
);
