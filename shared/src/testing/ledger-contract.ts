/**
 * The features every Ledger adapter must have, as one vitest suite: call `ledgerContract(name, makeLedger)`
 * from an adapter's spec file. `makeLedger` gives a ledger over an empty store and a cleanup for it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Ledger, NewEvent, StoredEvent } from '../ports/ledger.ts';
import { LedgerConflictError } from '../ports/ledger.ts';

export interface LedgerUnderTest {
  ledger: Ledger;
  cleanup: () => Promise<void>;
}

const migration = 'mig-1';
const at = '2025-01-02T03:04:05.678Z';

function events(...types: string[]): NewEvent[] {
  return types.map((type, index) => ({ type, at, data: { index } }));
}

function brief(stored: readonly StoredEvent[]) {
  return stored.map((e) => ({ id: e.id, streamId: e.streamId, seq: e.seq, type: e.type }));
}

async function conflictOf(promise: Promise<unknown>): Promise<LedgerConflictError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof LedgerConflictError))
    throw new Error(`expected a LedgerConflictError, got ${String(error)}`);
  return error;
}

export function ledgerContract(name: string, makeLedger: () => Promise<LedgerUnderTest>): void {
  describe(`Ledger contract: ${name}`, () => {
    let subject: LedgerUnderTest;
    let ledger: Ledger;

    beforeEach(async () => {
      subject = await makeLedger();
      ledger = subject.ledger;
    });
    afterEach(async () => {
      await subject.ledger.close();
      await subject.cleanup();
    });

    describe('append', () => {
      it('starts a new stream at expected version 0 and numbers its events from 1', async () => {
        const stored = await ledger.append(migration, 'chunk/1', 0, events('ChunkPlanned', 'ChunkExported'));
        expect(stored).toEqual([
          {
            id: 'chunk/1:1',
            migrationId: migration,
            streamId: 'chunk/1',
            seq: 1,
            type: 'ChunkPlanned',
            at,
            data: { index: 0 },
          },
          {
            id: 'chunk/1:2',
            migrationId: migration,
            streamId: 'chunk/1',
            seq: 2,
            type: 'ChunkExported',
            at,
            data: { index: 1 },
          },
        ]);
      });

      it('continues the numbering of an existing stream', async () => {
        await ledger.append(migration, 's', 0, events('A', 'B'));
        const stored = await ledger.append(migration, 's', 2, events('C', 'D', 'E'));
        expect(brief(stored)).toEqual([
          { id: 's:3', streamId: 's', seq: 3, type: 'C' },
          { id: 's:4', streamId: 's', seq: 4, type: 'D' },
          { id: 's:5', streamId: 's', seq: 5, type: 'E' },
        ]);
        expect((await ledger.readStream(migration, 's')).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      });

      it('returns the events as a later read returns them', async () => {
        const stored = await ledger.append(migration, 's', 0, events('A', 'B'));
        expect(await ledger.readStream(migration, 's')).toEqual(stored);
      });

      it('appending nothing stores nothing but still checks the version', async () => {
        expect(await ledger.append(migration, 's', 0, [])).toEqual([]);
        expect(await ledger.listStreams(migration)).toEqual([]);
        await ledger.append(migration, 's', 0, events('A'));
        expect(await ledger.append(migration, 's', 1, [])).toEqual([]);
        await conflictOf(ledger.append(migration, 's', 0, []));
      });
    });

    describe('optimistic concurrency', () => {
      it('rejects an expected version that is too low, naming the stream', async () => {
        await ledger.append(migration, 's', 0, events('A', 'B'));
        const conflict = await conflictOf(ledger.append(migration, 's', 1, events('C')));
        expect(conflict).toMatchObject({
          code: 'LEDGER_CONFLICT',
          migrationId: migration,
          streamId: 's',
          expectedVersion: 1,
        });
        expect((await ledger.readStream(migration, 's')).map((e) => e.type)).toEqual(['A', 'B']);
      });

      it('rejects an expected version that is too high', async () => {
        await ledger.append(migration, 's', 0, events('A'));
        await conflictOf(ledger.append(migration, 's', 5, events('B')));
        await conflictOf(ledger.append(migration, 'new', 1, events('B')));
        expect((await ledger.readStream(migration, 's')).map((e) => e.type)).toEqual(['A']);
        expect(await ledger.readStream(migration, 'new')).toEqual([]);
      });

      it('a second writer at the same expected version of a new stream conflicts', async () => {
        await ledger.append(migration, 's', 0, events('First'));
        await conflictOf(ledger.append(migration, 's', 0, events('Second')));
        expect((await ledger.readStream(migration, 's')).map((e) => e.type)).toEqual(['First']);
      });

      it('of concurrent appends at the same version exactly one wins, and all of its events land', async () => {
        await ledger.append(migration, 's', 0, events('Start'));
        const writers = ['w1', 'w2', 'w3', 'w4', 'w5'];
        const results = await Promise.allSettled(
          writers.map((w) => ledger.append(migration, 's', 1, events(`${w}.a`, `${w}.b`, `${w}.c`))),
        );
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [writers[i]] : []));
        expect(winners).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LedgerConflictError);
        }
        const types = (await ledger.readStream(migration, 's')).map((e) => e.type);
        const w = winners[0];
        expect(types).toEqual(['Start', `${w}.a`, `${w}.b`, `${w}.c`]);
      });

      it('an append that fails part-way stores none of its events', async () => {
        await ledger.append(migration, 's', 0, events('A'));
        const poisoned: NewEvent[] = [
          { type: 'B', at, data: { ok: true } },
          { type: 'C', at, data: { notJson: 10n } },
          { type: 'D', at, data: { ok: true } },
        ];
        await expect(ledger.append(migration, 's', 1, poisoned)).rejects.toThrow();
        expect((await ledger.readStream(migration, 's')).map((e) => e.type)).toEqual(['A']);
        expect(await ledger.listStreams(migration)).toEqual([{ streamId: 's', version: 1 }]);
        expect((await ledger.append(migration, 's', 1, events('B'))).map((e) => e.seq)).toEqual([2]);
      });
    });

    describe('reading', () => {
      it('reads a stream in seq order, from a given seq', async () => {
        await ledger.append(migration, 's', 0, events('A', 'B'));
        await ledger.append(migration, 's', 2, events('C', 'D', 'E'));
        expect((await ledger.readStream(migration, 's')).map((e) => e.type)).toEqual([
          'A',
          'B',
          'C',
          'D',
          'E',
        ]);
        expect(brief(await ledger.readStream(migration, 's', 3))).toEqual([
          { id: 's:3', streamId: 's', seq: 3, type: 'C' },
          { id: 's:4', streamId: 's', seq: 4, type: 'D' },
          { id: 's:5', streamId: 's', seq: 5, type: 'E' },
        ]);
        expect(await ledger.readStream(migration, 's', 6)).toEqual([]);
      });

      it('reads an unknown stream as empty', async () => {
        expect(await ledger.readStream(migration, 'nothing-here')).toEqual([]);
      });

      it('lists streams with their versions, ordered by id, filtered by a plain-text prefix', async () => {
        await ledger.append(migration, 'chunk/b', 0, events('A', 'B', 'C'));
        await ledger.append(migration, 'migration', 0, events('A'));
        await ledger.append(migration, 'chunk/a', 0, events('A', 'B'));
        await ledger.append(migration, 'chunkx', 0, events('A'));
        await ledger.append(migration, 'a_b/1', 0, events('A'));
        await ledger.append(migration, 'axb/1', 0, events('A'));
        await ledger.append(migration, '100%/1', 0, events('A'));
        await ledger.append(migration, '1000/1', 0, events('A'));
        expect(await ledger.listStreams(migration, 'chunk/')).toEqual([
          { streamId: 'chunk/a', version: 2 },
          { streamId: 'chunk/b', version: 3 },
        ]);
        expect(await ledger.listStreams(migration, 'a_b/')).toEqual([{ streamId: 'a_b/1', version: 1 }]);
        expect(await ledger.listStreams(migration, '100%')).toEqual([{ streamId: '100%/1', version: 1 }]);
        expect(await ledger.listStreams(migration, 'zzz')).toEqual([]);
        expect((await ledger.listStreams(migration)).map((s) => s.streamId)).toEqual([
          '100%/1',
          '1000/1',
          'a_b/1',
          'axb/1',
          'chunk/a',
          'chunk/b',
          'chunkx',
          'migration',
        ]);
      });

      it('reads every event of a migration in append order across streams', async () => {
        await ledger.append(migration, 'b', 0, events('b1'));
        await ledger.append(migration, 'a', 0, events('a1', 'a2'));
        await ledger.append(migration, 'b', 1, events('b2'));
        await ledger.append('other', 'a', 0, events('x1'));
        await ledger.append(migration, 'a', 2, events('a3'));
        expect(brief(await ledger.readAll(migration))).toEqual([
          { id: 'b:1', streamId: 'b', seq: 1, type: 'b1' },
          { id: 'a:1', streamId: 'a', seq: 1, type: 'a1' },
          { id: 'a:2', streamId: 'a', seq: 2, type: 'a2' },
          { id: 'b:2', streamId: 'b', seq: 2, type: 'b2' },
          { id: 'a:3', streamId: 'a', seq: 3, type: 'a3' },
        ]);
        expect(await ledger.readAll('nobody')).toEqual([]);
      });
    });

    it('keeps migrations apart: same stream ids, separate versions, reads and listings', async () => {
      await ledger.append('m1', 's', 0, events('m1.a', 'm1.b'));
      await ledger.append('m2', 's', 0, events('m2.a'));
      await conflictOf(ledger.append('m2', 's', 2, events('m2.b')));
      await ledger.append('m2', 's', 1, events('m2.b'));
      await ledger.append('m2', 'only-m2', 0, events('m2.c'));
      expect((await ledger.readStream('m1', 's')).map((e) => [e.migrationId, e.type])).toEqual([
        ['m1', 'm1.a'],
        ['m1', 'm1.b'],
      ]);
      expect(await ledger.listStreams('m1')).toEqual([{ streamId: 's', version: 2 }]);
      expect(await ledger.listStreams('m2')).toEqual([
        { streamId: 'only-m2', version: 1 },
        { streamId: 's', version: 2 },
      ]);
      expect((await ledger.readAll('m2')).map((e) => e.type)).toEqual(['m2.a', 'm2.b', 'm2.c']);
    });

    it('round-trips event data, types and instants exactly', async () => {
      const data = {
        name: [{ family: 'Müller-Łukasiewicz', given: ['Zoë', '李', '🧑‍⚕️'] }],
        text: 'quote " backslash \\ newline \n tab \t nul-free',
        combining: 'e\u0301',
        numbers: [0, -1, 1.5, 1e-7, Number.MAX_SAFE_INTEGER],
        flags: { yes: true, no: false, nothing: null },
        nested: { deeper: { deepest: [[], {}, [{ a: [1, { b: 'c' }] }]] } },
      };
      const event = { type: 'ResourceVerified', at: '2024-12-31T23:59:59.999Z', data };
      await ledger.append(migration, 'Patient/ü-1', 0, [
        event,
        { type: 'Scalar', at, data: 'just a string' },
      ]);
      const [first, second] = await ledger.readStream(migration, 'Patient/ü-1');
      expect(first).toEqual({
        id: 'Patient/ü-1:1',
        migrationId: migration,
        streamId: 'Patient/ü-1',
        seq: 1,
        ...event,
      });
      expect(second?.data).toBe('just a string');
      expect((await ledger.readAll(migration))[0]?.data).toEqual(data);
    });
  });
}
