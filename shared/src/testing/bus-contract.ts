/**
 * The features every Bus adapter must have, as one vitest suite: call `busContract(name, makeBus)` from an
 * adapter's spec file. `makeBus` gives a bus over an empty store, a way to open a second client of the same
 * store (as another process would), and a cleanup. Tests use short locks and retry delays, so each takes
 * well under a few seconds.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bus, MessageHandler, ReceivedMessage, SubscribeOptions, Subscription } from '../ports/bus.ts';
import { DeadLetterError } from '../ports/bus.ts';

export interface BusUnderTest {
  bus: Bus;
  /**
   * Another client of the same store. With `lockRenewal: false` it never renews a lock, which acts out a
   * receiver whose process died while its handler ran. The contract closes every bus it connects.
   */
  connect: (options: { lockRenewal: boolean }) => Promise<Bus>;
  cleanup: () => Promise<void>;
  /**
   * The shortest lock the store can give. The embedded bus locks per receiver (lockMs), so the tests use
   * 200–300 ms; a broker that sets locks per subscription (Service Bus: at least 5 s) says so here, and the
   * tests that act out a dead receiver or a long handler wait in proportion.
   */
  lockExpiryMs?: number;
}

/** Tolerated difference between the test's clock and the store's (a remote broker's clock may differ). */
const clockSkewMs = 50;
const topic = 'chunks';
const fast = { retryDelayMs: () => 20 };

interface Gate {
  promise: Promise<void>;
  open: () => void;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

export function busContract(name: string, makeBus: () => Promise<BusUnderTest>): void {
  describe(`Bus contract: ${name}`, () => {
    let subject: BusUnderTest;
    let bus: Bus;
    let closables: Array<Subscription | Bus>;
    let gates: Gate[];

    beforeEach(async () => {
      subject = await makeBus();
      bus = subject.bus;
      closables = [];
      gates = [];
    });
    afterEach(async () => {
      for (const g of gates) g.open(); // a failed test must not leave handlers waiting, or close() would hang
      for (const closable of closables.reverse()) await closable.close();
      await bus.close();
      await subject.cleanup();
    });

    /** A lock of `ms` on the embedded bus, or the store's shortest lock where that is longer. */
    const lockFor = (ms: number) => Math.max(ms, subject?.lockExpiryMs ?? 0);
    /** A wait that also covers the store's lock expiring. */
    const waitFor = (ms: number) => ms + (subject?.lockExpiryMs ?? 0) * 2;

    /** A promise a handler can wait on until the test opens it (afterEach opens any left shut). */
    function gate(): Gate {
      let open = () => {};
      const promise = new Promise<void>((resolve) => {
        open = resolve;
      });
      const g = { promise, open };
      gates.push(g);
      return g;
    }

    function subscribe(
      subscription: string,
      handler: MessageHandler,
      options?: SubscribeOptions,
      on: Bus = bus,
    ): Subscription {
      const sub = on.subscribe(topic, subscription, handler, options);
      closables.push(sub);
      return sub;
    }

    function collect(subscription: string, options?: SubscribeOptions, on?: Bus) {
      const received: ReceivedMessage[] = [];
      const sub = subscribe(subscription, async (m) => void received.push(m), options, on);
      return { received, sub };
    }

    async function connect(lockRenewal: boolean): Promise<Bus> {
      const other = await subject.connect({ lockRenewal });
      closables.push(other);
      return other;
    }

    describe('delivery', () => {
      it('delivers a published message once, with its body, id, names and enqueue time', async () => {
        await bus.declare(topic, 'exporter');
        const { received } = collect('exporter');
        const before = Date.now();
        const body = { chunkId: 'c-1', window: { from: '2025-01-01T00:00:00Z' }, name: 'Zoë 李 🧑‍⚕️' };
        await bus.publish(topic, [{ id: 'm-1', body }]);
        await eventually(() => received.length === 1, 'the message arrives');
        await sleep(150);
        expect(received).toHaveLength(1);
        const [message] = received;
        expect(message).toMatchObject({ id: 'm-1', topic, subscription: 'exporter', deliveryCount: 1 });
        expect(message?.body).toEqual(body);
        expect(message?.enqueuedAt).toBeInstanceOf(Date);
        expect(message?.enqueuedAt.getTime()).toBeGreaterThanOrEqual(before - clockSkewMs);
        expect(message?.enqueuedAt.getTime()).toBeLessThanOrEqual(Date.now() + clockSkewMs);
      });

      it('gives each subscription of the topic its own copy', async () => {
        await bus.declare(topic, 'a');
        await bus.declare(topic, 'b');
        await bus.declare('elsewhere', 'a');
        const a = collect('a');
        const b = collect('b');
        const other: ReceivedMessage[] = [];
        closables.push(bus.subscribe('elsewhere', 'a', async (m) => void other.push(m)));
        await bus.publish(topic, [
          { id: 'm-1', body: 1 },
          { id: 'm-2', body: 2 },
        ]);
        await eventually(() => a.received.length === 2 && b.received.length === 2, 'both copies arrive');
        expect(a.received.map((m) => m.id).sort()).toEqual(['m-1', 'm-2']);
        expect(b.received.map((m) => [m.id, m.subscription]).sort()).toEqual([
          ['m-1', 'b'],
          ['m-2', 'b'],
        ]);
        await sleep(150);
        expect(other).toEqual([]);
      });

      it('a subscription declared after a publish gets only later messages', async () => {
        await bus.declare(topic, 'early');
        await bus.publish(topic, [{ id: 'old', body: null }]);
        await bus.declare(topic, 'late');
        await bus.publish(topic, [{ id: 'new', body: null }]);
        const late = collect('late');
        const early = collect('early');
        await eventually(() => early.received.length === 2, 'the early subscription has both');
        await eventually(() => late.received.length === 1, 'the late subscription has one');
        await sleep(150);
        expect(late.received.map((m) => m.id)).toEqual(['new']);
      });

      it('ignores a second publish of the same id to the topic, even after the first was completed', async () => {
        await bus.declare(topic, 'a');
        const { received } = collect('a');
        await bus.publish(topic, [
          { id: 'dup', body: 'first' },
          { id: 'dup', body: 'same batch' },
        ]);
        await eventually(() => received.length === 1, 'the first copy arrives');
        await bus.declare(topic, 'b');
        const b = collect('b');
        await bus.publish(topic, [
          { id: 'dup', body: 'again' },
          { id: 'fresh', body: 'fresh' },
        ]);
        await eventually(() => received.length === 2 && b.received.length === 1, 'the fresh message arrives');
        await sleep(150);
        expect(received.map((m) => [m.id, m.body])).toEqual([
          ['dup', 'first'],
          ['fresh', 'fresh'],
        ]);
        expect(b.received.map((m) => m.id)).toEqual(['fresh']);
      });

      it('does not deliver a scheduled message before its deliverAt', async () => {
        await bus.declare(topic, 'a');
        const times: number[] = [];
        subscribe('a', async () => void times.push(Date.now()));
        const deliverAt = new Date(Date.now() + 500);
        await bus.publish(topic, [{ id: 'later', body: {}, deliverAt }]);
        await sleep(250);
        expect(times).toEqual([]);
        await eventually(() => times.length === 1, 'the scheduled message arrives');
        expect(times[0]).toBeGreaterThanOrEqual(deliverAt.getTime() - clockSkewMs);
      });
    });

    describe('failures and dead letters', () => {
      it('redelivers a message whose handler threw, after the retry delay, with deliveryCount 2', async () => {
        await bus.declare(topic, 'a');
        const deliveries: Array<{ count: number; at: number }> = [];
        const delaysAskedFor: number[] = [];
        subscribe(
          'a',
          async (m) => {
            deliveries.push({ count: m.deliveryCount, at: Date.now() });
            if (m.deliveryCount === 1) throw new Error('transient');
          },
          {
            retryDelayMs: (count) => {
              delaysAskedFor.push(count);
              return 400;
            },
          },
        );
        await bus.publish(topic, [{ id: 'm', body: {} }]);
        await eventually(() => deliveries.length === 2, 'the second delivery');
        await sleep(150);
        expect(deliveries.map((d) => d.count)).toEqual([1, 2]);
        expect(delaysAskedFor).toEqual([1]);
        const [first, second] = deliveries;
        expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(400 - clockSkewMs);
        expect(await bus.listDeadLetters(topic, 'a')).toEqual([]);
      });

      it('dead-letters a message after maxDeliveries failed deliveries, with the error in the reason', async () => {
        await bus.declare(topic, 'a');
        const counts: number[] = [];
        subscribe(
          'a',
          async (m) => {
            counts.push(m.deliveryCount);
            throw new Error('FHIR server said 422 for Patient/42');
          },
          { ...fast, maxDeliveries: 3 },
        );
        const before = Date.now();
        await bus.publish(topic, [{ id: 'poison', body: { n: 1 } }]);
        await eventually(async () => (await bus.listDeadLetters(topic, 'a')).length === 1, 'the dead letter');
        await sleep(150);
        expect(counts).toEqual([1, 2, 3]);
        const [dead] = await bus.listDeadLetters(topic, 'a');
        expect(dead).toMatchObject({
          id: 'poison',
          topic,
          subscription: 'a',
          body: { n: 1 },
          deliveryCount: 3,
        });
        expect(dead?.reason).toContain('FHIR server said 422 for Patient/42');
        expect(dead?.deadLetteredAt.getTime()).toBeGreaterThanOrEqual(before - clockSkewMs);
      });

      it('dead-letters at once when the handler throws DeadLetterError, keeping its reason', async () => {
        await bus.declare(topic, 'a');
        await bus.declare(topic, 'b');
        const counts: number[] = [];
        subscribe('a', async (m) => {
          counts.push(m.deliveryCount);
          throw new DeadLetterError('unknown message type ChunkFoo');
        });
        const b = collect('b');
        await bus.publish(topic, [{ id: 'bad', body: 'x' }]);
        await eventually(async () => (await bus.listDeadLetters(topic, 'a')).length === 1, 'the dead letter');
        await eventually(() => b.received.length === 1, 'the other subscription handles its copy');
        await sleep(150);
        expect(counts).toEqual([1]);
        const [dead] = await bus.listDeadLetters(topic, 'a');
        expect(dead).toMatchObject({ id: 'bad', body: 'x', deliveryCount: 1 });
        expect(dead?.reason).toContain('unknown message type ChunkFoo');
        expect(await bus.listDeadLetters(topic, 'b')).toEqual([]);
      });

      it('replays a dead letter to its subscription with a fresh delivery count', async () => {
        await bus.declare(topic, 'a');
        const seen: Array<[string, number]> = [];
        let healthy = false;
        subscribe('a', async (m) => {
          seen.push([m.id, m.deliveryCount]);
          if (!healthy) throw new DeadLetterError('not yet');
        });
        await bus.publish(topic, [{ id: 'm', body: { keep: 'me' } }]);
        await eventually(async () => (await bus.listDeadLetters(topic, 'a')).length === 1, 'the dead letter');
        healthy = true;
        await bus.replayDeadLetter(topic, 'a', 'm');
        expect(await bus.listDeadLetters(topic, 'a')).toEqual([]);
        await eventually(() => seen.length === 2, 'the replayed message arrives');
        await sleep(150);
        expect(seen).toEqual([
          ['m', 1],
          ['m', 1],
        ]);
        expect(await bus.listDeadLetters(topic, 'a')).toEqual([]);
      });
    });

    describe('application properties', () => {
      // A broker may add properties of its own (e.g. Diagnostic-Id): the publisher's must be among them.
      const properties = {
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'vendor=opaque;x',
      };

      it('delivers the properties a message was published with, beside its body', async () => {
        await bus.declare(topic, 'a');
        const { received } = collect('a');
        await bus.publish(topic, [
          { id: 'with', body: { n: 1 }, properties },
          { id: 'without', body: { n: 2 } },
        ]);
        await eventually(() => received.length === 2, 'both messages arrive');
        const byId = new Map(received.map((m) => [m.id, m]));
        expect(byId.get('with')?.properties).toMatchObject(properties);
        expect(byId.get('with')?.body).toEqual({ n: 1 });
        expect(byId.get('without')?.properties?.traceparent).toBeUndefined();
      });

      it('keeps the properties through dead-lettering and replay', async () => {
        await bus.declare(topic, 'a');
        const seen: ReceivedMessage[] = [];
        let healthy = false;
        subscribe('a', async (m) => {
          seen.push(m);
          if (!healthy) throw new DeadLetterError('not yet');
        });
        await bus.publish(topic, [{ id: 'm', body: { keep: 'me' }, properties }]);
        await eventually(async () => (await bus.listDeadLetters(topic, 'a')).length === 1, 'the dead letter');
        const [dead] = await bus.listDeadLetters(topic, 'a');
        expect(dead?.properties).toMatchObject(properties);
        healthy = true;
        await bus.replayDeadLetter(topic, 'a', 'm');
        await eventually(() => seen.length === 2, 'the replayed message arrives');
        expect(seen[1]?.properties).toMatchObject(properties);
        expect(seen[1]?.body).toEqual({ keep: 'me' });
      });
    });

    describe('locks', () => {
      it('while one receiver holds a message, another receiver of the subscription does not get it', async () => {
        await bus.declare(topic, 'a');
        const holding = gate();
        const release = gate();
        const first: string[] = [];
        subscribe(
          'a',
          async (m) => {
            first.push(m.id);
            holding.open();
            await release.promise;
          },
          { lockMs: 5000 },
        );
        await bus.publish(topic, [{ id: 'held', body: {} }]);
        await holding.promise;
        const other = await connect(true);
        const second = collect('a', { lockMs: 5000 }, other);
        await bus.publish(topic, [{ id: 'next', body: {} }]);
        await eventually(() => second.received.length === 1, 'the other receiver gets the next message');
        await sleep(300);
        expect(second.received.map((m) => m.id)).toEqual(['next']);
        release.open();
        await sleep(150);
        expect(first).toEqual(['held']);
        expect(second.received.map((m) => m.id)).toEqual(['next']);
      });

      it('redelivers a message whose receiver died (its lock expired); the dead one cannot settle it', async () => {
        await bus.declare(topic, 'a');
        const dying = await connect(false);
        const stuck = gate();
        const release = gate();
        const dyingReceiver = subscribe(
          'a',
          async () => {
            stuck.open();
            await release.promise;
          },
          { lockMs: lockFor(300) },
          dying,
        );
        await bus.publish(topic, [{ id: 'orphan', body: {} }]);
        await stuck.promise;
        const buried = dyingReceiver.close(); // takes nothing more; resolves once its handler returns
        const survivor: number[] = [];
        const survivorRelease = gate();
        subscribe(
          'a',
          async (m) => {
            survivor.push(m.deliveryCount);
            await survivorRelease.promise;
            if (m.deliveryCount === 2) throw new Error('try once more');
          },
          fast,
        );
        await eventually(() => survivor.length === 1, 'the survivor gets the message', waitFor(5000));
        expect(survivor).toEqual([2]);
        // The dead receiver's handler now finishes; its completion must not remove the survivor's message,
        // which the survivor then abandons and gets once more.
        release.open();
        await sleep(200);
        await buried;
        survivorRelease.open();
        await eventually(() => survivor.length === 2, 'the survivor gets the message again');
        await sleep(200);
        expect(survivor).toEqual([2, 3]);
        expect(await bus.listDeadLetters(topic, 'a')).toEqual([]);
      });

      it('dead-letters a message whose lock expired on its last allowed delivery', async () => {
        await bus.declare(topic, 'a');
        const dying = await connect(false);
        const stuck = gate();
        const release = gate();
        const dyingReceiver = subscribe(
          'a',
          async () => {
            stuck.open();
            await release.promise;
          },
          { lockMs: lockFor(200), maxDeliveries: 1 },
          dying,
        );
        await bus.publish(topic, [{ id: 'crashes-its-receiver', body: {} }]);
        await stuck.promise;
        const buried = dyingReceiver.close();
        const { received } = collect('a', { maxDeliveries: 1 });
        await eventually(
          async () => (await bus.listDeadLetters(topic, 'a')).length === 1,
          'the dead letter',
          waitFor(3000),
        );
        release.open();
        await buried;
        await sleep(150);
        expect(received).toEqual([]);
        const [dead] = await bus.listDeadLetters(topic, 'a');
        expect(dead?.id).toBe('crashes-its-receiver');
        expect(dead?.reason.length).toBeGreaterThan(0);
      });

      it('renews the lock of a handler that runs longer than lockMs', async () => {
        await bus.declare(topic, 'a');
        const deliveries: Array<[string, number]> = [];
        const slow =
          (receiver: string): MessageHandler =>
          async (m) => {
            deliveries.push([receiver, m.deliveryCount]);
            await sleep(lockFor(200) * 4.5);
          };
        subscribe('a', slow('one'), { lockMs: lockFor(200) });
        subscribe('a', slow('two'), { lockMs: lockFor(200) }, await connect(true));
        await bus.publish(topic, [{ id: 'slow', body: {} }]);
        await eventually(() => deliveries.length === 1, 'the first delivery');
        await sleep(lockFor(200) * 6.5);
        expect(deliveries).toHaveLength(1);
        expect(deliveries[0]?.[1]).toBe(1);
      });
    });

    describe('receivers', () => {
      it('handles one message at a time by default', async () => {
        await bus.declare(topic, 'a');
        let active = 0;
        let most = 0;
        let done = 0;
        subscribe('a', async () => {
          active += 1;
          most = Math.max(most, active);
          await sleep(40);
          active -= 1;
          done += 1;
        });
        await bus.publish(
          topic,
          ['1', '2', '3', '4'].map((id) => ({ id, body: {} })),
        );
        await eventually(() => done === 4, 'all four are handled');
        expect(most).toBe(1);
      });

      it('handles up to `concurrency` messages at once', async () => {
        await bus.declare(topic, 'a');
        const release = gate();
        let active = 0;
        let most = 0;
        let done = 0;
        subscribe(
          'a',
          async () => {
            active += 1;
            most = Math.max(most, active);
            await release.promise;
            active -= 1;
            done += 1;
          },
          { concurrency: 3 },
        );
        await bus.publish(
          topic,
          ['1', '2', '3', '4', '5', '6', '7'].map((id) => ({ id, body: {} })),
        );
        await eventually(() => active === 3, 'three handlers run');
        await sleep(250);
        expect(active).toBe(3);
        release.open();
        await eventually(() => done === 7, 'all seven are handled');
        expect(most).toBe(3);
      });

      it('close() waits for in-flight handlers, completes their messages and stops receiving', async () => {
        await bus.declare(topic, 'a');
        const started = gate();
        const handled: string[] = [];
        const sub = subscribe('a', async (m) => {
          started.open();
          await sleep(300);
          handled.push(m.id);
        });
        await bus.publish(topic, [{ id: 'in-flight', body: {} }]);
        await started.promise;
        await sub.close();
        expect(handled).toEqual(['in-flight']);
        await bus.publish(topic, [{ id: 'after-close', body: {} }]);
        await sleep(250);
        expect(handled).toEqual(['in-flight']);
        const { received } = collect('a');
        await eventually(() => received.length === 1, 'a new receiver gets what was left');
        await sleep(150);
        expect(received.map((m) => m.id)).toEqual(['after-close']);
      });

      it('closing the bus waits for the handlers of all its subscriptions', async () => {
        await bus.declare(topic, 'a');
        await bus.declare(topic, 'b');
        const finished: string[] = [];
        let started = 0;
        for (const name of ['a', 'b']) {
          subscribe(name, async () => {
            started += 1;
            await sleep(200);
            finished.push(name);
          });
        }
        await bus.publish(topic, [{ id: 'm', body: {} }]);
        await eventually(() => started === 2, 'both handlers start');
        await bus.close();
        expect(finished.sort()).toEqual(['a', 'b']);
      });
    });
  });
}
