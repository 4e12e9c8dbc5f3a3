/** The summary's timeline and time-to-catch-up, from folded chunk states (no ledger needed). */
import { describe, expect, it } from 'vitest';
import type { ChunkState } from '../domain/chunk.ts';
import type { LoadedChunk } from './chunk-store.ts';
import { etaSeconds, timelineOf } from './summary.ts';

const chunk = (
  index: number,
  status: ChunkState['status'],
  since: string,
  till: string,
  lastEventAt: string,
  imported = 0,
): LoadedChunk => ({
  chunkId: `chunk-${String(index).padStart(6, '0')}`,
  version: 3,
  lastEventAt,
  state: {
    status,
    exportAttempts: 1,
    importAttempts: 1,
    plan: { chunkId: `chunk-${index}`, index, since, till, expectedCount: imported },
    ...(imported > 0
      ? { importResult: { imported: { Patient: imported }, failed: {}, failures: [], deletesApplied: 0 } }
      : {}),
  } as ChunkState,
});

describe('timelineOf', () => {
  it('gives one point per settled chunk in window order, with the cumulative import count, and stops at the first unsettled one', () => {
    const points = timelineOf([
      chunk(1, 'verified', '2025-01-01T00:00:00Z', '2025-01-31T00:00:00Z', '2026-01-01T00:00:10Z', 5),
      chunk(2, 'skipped', '2025-01-31T00:00:00Z', '2025-03-02T00:00:00Z', '2026-01-01T00:00:01Z'),
      chunk(3, 'verified', '2025-03-02T00:00:00Z', '2025-04-01T00:00:00Z', '2026-01-01T00:00:20Z', 7),
      chunk(4, 'importing', '2025-04-01T00:00:00Z', '2025-05-01T00:00:00Z', '2026-01-01T00:00:25Z', 0),
      chunk(5, 'verified', '2025-05-01T00:00:00Z', '2025-06-01T00:00:00Z', '2026-01-01T00:00:30Z', 9),
    ]);
    expect(points).toEqual([
      { at: '2026-01-01T00:00:10Z', watermark: '2025-01-31T00:00:00Z', imported: 5 },
      // A window skipped when planned settles "earlier" than the chunk before it: time never runs backwards.
      { at: '2026-01-01T00:00:10Z', watermark: '2025-03-02T00:00:00Z', imported: 5 },
      { at: '2026-01-01T00:00:20Z', watermark: '2025-04-01T00:00:00Z', imported: 12 },
    ]);
  });
});

describe('etaSeconds', () => {
  const now = new Date('2026-01-01T00:01:00Z');

  it('divides the lag by how much faster than real time the watermark moves', () => {
    // The watermark moved 1,000 s of data in 10 s of wall clock (100× real time), and lags 990 s.
    const eta = etaSeconds(
      [
        { at: '2026-01-01T00:00:50Z', watermark: '2026-01-01T00:00:00Z', imported: 1 },
        {
          at: '2026-01-01T00:01:00Z',
          watermark: new Date(Date.parse('2026-01-01T00:00:00Z') + 1_000_000).toISOString(),
          imported: 2,
        },
      ],
      new Date(Date.parse('2026-01-01T00:00:00Z') + 1_000_000 + 990_000),
    );
    expect(eta).toBeCloseTo(990 / 99, 6);
  });

  it('has no answer with fewer than two points, or while the watermark does not gain on the clock', () => {
    expect(etaSeconds([], now)).toBeUndefined();
    expect(
      etaSeconds([{ at: '2026-01-01T00:00:50Z', watermark: '2025-12-01T00:00:00Z', imported: 1 }], now),
    ).toBeUndefined();
    expect(
      etaSeconds(
        [
          { at: '2026-01-01T00:00:00Z', watermark: '2025-12-31T23:59:00Z', imported: 1 },
          { at: '2026-01-01T00:01:00Z', watermark: '2025-12-31T23:59:30Z', imported: 2 },
        ],
        now,
      ),
    ).toBeUndefined();
  });
});
