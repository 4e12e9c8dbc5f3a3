import { randomUUID } from 'node:crypto';
import { Agent } from 'node:https';
import {
  type Container,
  CosmosClient,
  type CosmosClientOptions,
  type FeedOptions,
  type SqlQuerySpec,
} from '@azure/cosmos';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { LedgerConflictError, type NewEvent } from '../../ports/ledger.ts';
import { ledgerContract } from '../../testing/ledger-contract.ts';
import {
  CosmosLedgerError,
  cosmosLedgerClientOptions,
  createCosmosLedger,
  ensureLedgerContainer,
  maxEventsPerAppend,
} from './ledger-cosmos.ts';

const emulator = inject('cosmosEmulator');
const databaseId = 'fhir-migrate-ledger-tests';
const at = '2025-01-02T03:04:05.678Z';

/**
 * A client of the emulator. cosmosdb-server runs over plain HTTP, which needs endpoint discovery off; a
 * local HTTPS emulator (COSMOS_ENDPOINT on loopback) has a self-signed certificate, accepted by this test
 * client's own agent only.
 */
function newClient(): CosmosClient {
  const url = new URL(emulator.endpoint);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  const options: CosmosClientOptions = { endpoint: emulator.endpoint, key: emulator.key };
  if (url.protocol === 'http:' || loopback) options.connectionPolicy = { enableEndpointDiscovery: false };
  if (url.protocol === 'https:' && loopback) options.agent = new Agent({ rejectUnauthorized: false });
  return new CosmosClient(cosmosLedgerClientOptions(options));
}

const client = newClient();
afterAll(() => client.dispose());

async function freshContainer(): Promise<{ container: Container; cleanup: () => Promise<void> }> {
  const container = await ensureLedgerContainer(client, databaseId, `ledger-${randomUUID()}`);
  return {
    container,
    cleanup: async () => {
      await container.delete();
    },
  };
}

function events(...types: string[]): NewEvent[] {
  return types.map((type, index) => ({ type, at, data: { index } }));
}

async function documents(container: Container, migrationId: string) {
  const { resources } = await container.items
    .query<{ id: string; kind: string }>(
      {
        query: 'SELECT c.id, c.kind FROM c WHERE c.migrationId = @m',
        parameters: [{ name: '@m', value: migrationId }],
      },
      { partitionKey: migrationId },
    )
    .fetchAll();
  return resources;
}

function countByKind(docs: readonly { kind: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { kind } of docs) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

interface RecordedQuery {
  spec: SqlQuerySpec;
  options: FeedOptions | undefined;
  rows: number;
}

/** Records every query the ledger sends through `container` and how many rows each returned. */
function recordQueries(container: Container): RecordedQuery[] {
  const recorded: RecordedQuery[] = [];
  const items = container.items;
  const original = items.query.bind(items);
  vi.spyOn(items, 'query').mockImplementation((query: string | SqlQuerySpec, options?: FeedOptions) => {
    const spec = typeof query === 'string' ? { query } : query;
    const iterator = original<unknown>(spec, options);
    const fetchAll = iterator.fetchAll.bind(iterator);
    iterator.fetchAll = async () => {
      const response = await fetchAll();
      recorded.push({ spec, options, rows: response.resources.length });
      return response;
    };
    return iterator;
  });
  return recorded;
}

async function outcome(promise: Promise<unknown>): Promise<'ok' | unknown> {
  return promise.then(
    () => 'ok',
    (error: unknown) => error,
  );
}

ledgerContract('Cosmos DB (cosmosdb-server)', async () => {
  const { container, cleanup } = await freshContainer();
  return { ledger: createCosmosLedger({ container }), cleanup };
});

describe('Cosmos ledger', () => {
  it('stores events under the id streamId:seq, one head per stream and one position counter', async () => {
    const { container, cleanup } = await freshContainer();
    try {
      const ledger = createCosmosLedger({ container });
      const stored = await ledger.append('m', 'chunk-000001', 0, events('A', 'B'));
      await ledger.append('m', 'chunk-000001', 2, events('C'));
      expect(stored.map((e) => e.id)).toEqual(['chunk-000001:1', 'chunk-000001:2']);
      // Cosmos forbids '/' (and '\\', '?', '#') in ids: the document id escapes them, the port's id does not.
      for (const stream of ['Patient/ü-1', '100%/1', 'a~2F']) {
        await ledger.append('m', stream, 0, events('A'));
        await ledger.append('m', stream, 1, events('B'));
        await expect(ledger.append('m', stream, 1, events('C'))).rejects.toThrow(LedgerConflictError);
        expect((await ledger.readStream('m', stream)).map((e) => e.id)).toEqual([
          `${stream}:1`,
          `${stream}:2`,
        ]);
      }
      const docs = await documents(container, 'm');
      expect(docs.map((d) => `${d.kind} ${d.id}`).sort()).toEqual([
        'event 100~25~2F1:1',
        'event 100~25~2F1:2',
        'event Patient~2Fü-1:1',
        'event Patient~2Fü-1:2',
        'event a~7E2F:1',
        'event a~7E2F:2',
        'event chunk-000001:1',
        'event chunk-000001:2',
        'event chunk-000001:3',
        'head 100~25~2F1:head',
        'head Patient~2Fü-1:head',
        'head a~7E2F:head',
        'head chunk-000001:head',
        'position position',
      ]);
      const { resource } = await container.item('chunk-000001:head', 'm').read<{ version: number }>();
      expect(resource?.version).toBe(3);
    } finally {
      await cleanup();
    }
  });

  it('of two clients appending at the same version exactly one wins and the other gets a conflict', async () => {
    const { container, cleanup } = await freshContainer();
    const other = newClient();
    try {
      const one = createCosmosLedger({ container });
      const two = createCosmosLedger({ container: other.database(databaseId).container(container.id) });
      for (const [expected, stream] of [
        [0, 'new'],
        [1, 'existing'],
      ] as const) {
        if (expected === 1) await one.append('m', stream, 0, events('Start'));
        const results = await Promise.all([
          outcome(one.append('m', stream, expected, events('one.a', 'one.b'))),
          outcome(two.append('m', stream, expected, events('two.a', 'two.b'))),
        ]);
        const winners = results.flatMap((r, i) => (r === 'ok' ? [i === 0 ? 'one' : 'two'] : []));
        expect(winners).toHaveLength(1);
        expect(results.find((r) => r !== 'ok')).toBeInstanceOf(LedgerConflictError);
        const types = (await two.readStream('m', stream)).map((e) => e.type).slice(expected);
        expect(types).toEqual([`${winners[0]}.a`, `${winners[0]}.b`]);
        expect(await one.listStreams('m', stream)).toEqual([{ streamId: stream, version: expected + 2 }]);
      }
    } finally {
      other.dispose();
      await cleanup();
    }
  });

  it('concurrent appends to different streams all land, in one total order for readAll', async () => {
    const { container, cleanup } = await freshContainer();
    const other = newClient();
    try {
      const ledgers = [
        createCosmosLedger({ container }),
        createCosmosLedger({ container: other.database(databaseId).container(container.id) }),
      ];
      const streams = Array.from({ length: 12 }, (_, i) => `chunk-${String(i).padStart(6, '0')}`);
      await Promise.all(streams.map((s, i) => ledgers[i % 2]?.append('m', s, 0, events(`${s}.a`, `${s}.b`))));
      const all = await ledgers[0]?.readAll('m');
      expect(all).toHaveLength(24);
      // Each append's events are adjacent and in seq order: positions were handed out per batch.
      for (let i = 0; i < 24; i += 2) {
        expect([all?.[i]?.seq, all?.[i + 1]?.seq, all?.[i + 1]?.streamId]).toEqual([
          1,
          2,
          all?.[i]?.streamId,
        ]);
      }
      const { resource } = await container.item('position', 'm').read<{ last: number }>();
      expect(resource?.last).toBe(24);
    } finally {
      other.dispose();
      await cleanup();
    }
  });

  it('listStreams reads only the head documents, never the events', async () => {
    const { container, cleanup } = await freshContainer();
    try {
      const ledger = createCosmosLedger({ container });
      for (const s of ['chunk-000001', 'chunk-000002', 'migration']) {
        await ledger.append('m', s, 0, events(...Array.from({ length: 10 }, (_, i) => `E${i}`)));
      }
      expect(countByKind(await documents(container, 'm'))).toEqual({ event: 30, head: 3, position: 1 });
      const recorded = recordQueries(container);
      expect(await ledger.listStreams('m', 'chunk-')).toEqual([
        { streamId: 'chunk-000001', version: 10 },
        { streamId: 'chunk-000002', version: 10 },
      ]);
      expect(await ledger.listStreams('m')).toHaveLength(3);
      expect(recorded.map((q) => q.rows)).toEqual([2, 3]);
      for (const { spec } of recorded) expect(spec.query).toContain("c.kind = 'head'");
    } finally {
      await cleanup();
    }
  });

  it('every query names the migration in its text and passes it as the partition key', async () => {
    const { container, cleanup } = await freshContainer();
    try {
      const ledger = createCosmosLedger({ container });
      await ledger.append('m', 's', 0, events('A'));
      await ledger.append('other', 's', 0, events('B'));
      const recorded = recordQueries(container);
      await ledger.readStream('m', 's');
      await ledger.readStream('m', 's', 2);
      await ledger.listStreams('m');
      await ledger.listStreams('m', 's');
      expect(await ledger.readAll('m')).toHaveLength(1);
      expect(recorded).toHaveLength(5);
      for (const { spec, options } of recorded) {
        expect(spec.query).toContain('WHERE c.migrationId = @m');
        expect(spec.parameters).toContainEqual({ name: '@m', value: 'm' });
        expect(options?.partitionKey).toBe('m');
      }
    } finally {
      await cleanup();
    }
  });

  it(`refuses more than ${maxEventsPerAppend} events in one append, storing nothing`, async () => {
    const { container, cleanup } = await freshContainer();
    try {
      const ledger = createCosmosLedger({ container });
      const many = events(...Array.from({ length: maxEventsPerAppend + 1 }, (_, i) => `E${i}`));
      await expect(ledger.append('m', 's', 0, many)).rejects.toThrow(RangeError);
      expect(await documents(container, 'm')).toEqual([]);
      expect(await ledger.append('m', 's', 0, many.slice(0, maxEventsPerAppend))).toHaveLength(
        maxEventsPerAppend,
      );
    } finally {
      await cleanup();
    }
  });

  it('a stray event at the next seq: a conflict where batches are atomic, LEDGER_NOT_ATOMIC on cosmosdb-server', async () => {
    const { container, cleanup } = await freshContainer();
    try {
      const ledger = createCosmosLedger({ container });
      await ledger.append('m', 's', 0, events('A'));
      await container.items.create({ id: 's:2', kind: 'event', migrationId: 'm', streamId: 's', seq: 2 });
      const error = await outcome(ledger.append('m', 's', 1, events('B')));
      if (emulator.origin === 'started') {
        // cosmosdb-server applied the counter and head operations before the event create failed.
        expect(error).toBeInstanceOf(CosmosLedgerError);
        expect(error).toMatchObject({ code: 'LEDGER_NOT_ATOMIC', operation: 'append', streamId: 's' });
      } else {
        expect(error).toBeInstanceOf(LedgerConflictError);
        expect(await ledger.listStreams('m')).toEqual([{ streamId: 's', version: 1 }]);
      }
    } finally {
      await cleanup();
    }
  });

  it('store errors name the operation, migration and stream, and never the key or endpoint', async () => {
    const { container, cleanup } = await freshContainer();
    const ledger = createCosmosLedger({ container });
    await cleanup();
    const error = await outcome(ledger.readStream('m-9', 'chunk-000009'));
    expect(error).toBeInstanceOf(CosmosLedgerError);
    expect(error).toMatchObject({
      operation: 'readStream',
      migrationId: 'm-9',
      streamId: 'chunk-000009',
      statusCode: 404,
      transient: false,
    });
    const message = String((error as Error).message);
    expect(message).toContain('readStream');
    expect(message).toContain('chunk-000009');
    expect(message).not.toContain(emulator.key);
    expect(message).not.toContain(new URL(emulator.endpoint).host);
    await expect(ledger.append('m-9', 'chunk-000009', 0, events('A'))).rejects.toMatchObject({
      operation: 'append',
      migrationId: 'm-9',
    });
  });
});
