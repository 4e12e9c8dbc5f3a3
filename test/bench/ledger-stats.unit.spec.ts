import type { StoredEvent } from '@fhir-migrate/shared/ports/ledger.ts';
import { describe, expect, it } from 'vitest';
import { chunkTimesOf, intersect, median, pipelineStats, union } from './ledger-stats.ts';

const t0 = Date.parse('2026-01-01T00:00:00.000Z');
let id = 0;
function event(streamId: string, type: string, atMs: number, data: unknown = {}): StoredEvent {
  return {
    id: String(++id),
    migrationId: 'm',
    streamId,
    seq: 1,
    type,
    at: new Date(t0 + atMs).toISOString(),
    data,
  };
}

/** Chunk n: planned at p, export [es, ec], import [is, ic]. */
function chunk(
  n: number,
  p: number,
  es: number,
  ec: number,
  is: number,
  ic: number,
  imported = 10,
): StoredEvent[] {
  const s = `chunk-${String(n).padStart(6, '0')}`;
  return [
    event(s, 'ChunkPlanned', p),
    event(s, 'ExportStarted', es),
    event(s, 'ExportCompleted', ec),
    event(s, 'ImportStarted', is),
    event(s, 'ImportCompleted', ic, { imported: { Patient: imported - 1, Observation: 1 } }),
  ];
}

describe('benchmark ledger statistics', () => {
  it('merges and intersects intervals', () => {
    expect(
      union([
        { from: 5, to: 8 },
        { from: 0, to: 2 },
        { from: 1, to: 3 },
        { from: 8, to: 9 },
      ]),
    ).toEqual([
      { from: 0, to: 3 },
      { from: 5, to: 9 },
    ]);
    expect(
      intersect(
        [
          { from: 0, to: 3 },
          { from: 5, to: 9 },
        ],
        [
          { from: 2, to: 6 },
          { from: 8, to: 20 },
        ],
      ),
    ).toEqual([
      { from: 2, to: 3 },
      { from: 5, to: 6 },
      { from: 8, to: 9 },
    ]);
    expect(median([])).toBeUndefined();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });

  it('reads chunk timelines, leaves out skipped windows and the migration stream', () => {
    const events = [
      event('migration', 'MigrationStarted', 0),
      ...chunk(1, 0, 10, 100, 110, 300, 25),
      event('chunk-000002', 'ChunkPlanned', 20),
      event('chunk-000002', 'ChunkSkipped', 20),
    ];
    const chunks = chunkTimesOf(events);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatchObject({ chunkId: 'chunk-000001', imported: 25 });
    expect(chunks[0]?.importCompleted).toBe(t0 + 300);
  });

  it('measures overlap, the sequential sum, turnarounds and import hand-offs of a pipelined run', () => {
    // Chunk 2 exports while chunk 1 imports; chunk 3 is planned and kicked off when chunk 1's import ends.
    const events = [
      ...chunk(1, 0, 0, 100, 100, 400),
      ...chunk(2, 0, 0, 250, 430, 700),
      ...chunk(3, 405, 450, 600, 720, 900),
    ];
    const stats = pipelineStats(chunkTimesOf(events));
    expect(stats.chunks).toBe(3);
    expect(stats.exportBusyMs).toBe(250 + 150); // [0,250] ∪ [450,600]
    expect(stats.importBusyMs).toBe(300 + 270 + 180); // [100,400] ∪ [430,700] ∪ [720,900]
    expect(stats.overlapMs).toBe(150 + 150); // [100,250] and [450,600]
    expect(stats.overlapFraction).toBeCloseTo(300 / 400);
    expect(stats.sequentialSumMs).toBe(100 + 250 + 150 + 300 + 270 + 180);
    // Chunk 1's import ended at 400; chunk 3, planned at 405, kicked off at 450. Chunk 2's (700) made room for none.
    expect(stats.turnaroundsMs).toEqual([50]);
    // Chunk 2 was exported at 250, so it could start importing when chunk 1 ended (400): 30 ms hand-off.
    // Chunk 3 was exported at 600, before chunk 2 ended (700): 20 ms.
    expect(stats.importHandoffsMs).toEqual([30, 20]);
  });

  it('rejects an event with an unreadable time', () => {
    expect(() => chunkTimesOf([{ ...event('chunk-000001', 'ChunkPlanned', 0), at: 'yesterday' }])).toThrow(
      /invalid time 'yesterday'/,
    );
  });
});
