import { windowPolicy } from '@fhir-migrate/shared/domain/window.ts';
import { describe, expect, it } from 'vitest';
import { firstWidthMs } from './next-window.ts';

const day = 86_400_000;
const policy = windowPolicy({ chunkDuration: 30 * day, safetyLag: 60_000, chunkLimit: 100_000 });

describe('the width the planner counts first', () => {
  it('is chunkDuration for the first window', () => {
    expect(firstWidthMs(policy)).toBe(30 * day);
  });
  it('stays at the last window’s width while that held more than half the limit', () => {
    expect(firstWidthMs(policy, { widthMs: 6 * 3_600_000, count: 64_000 })).toBe(6 * 3_600_000);
    expect(firstWidthMs(policy, { widthMs: 6 * 3_600_000, count: 50_000 })).toBe(6 * 3_600_000);
  });
  it('doubles after a window that held under half the limit, never past chunkDuration', () => {
    expect(firstWidthMs(policy, { widthMs: 6 * 3_600_000, count: 49_999 })).toBe(12 * 3_600_000);
    expect(firstWidthMs(policy, { widthMs: 20 * day, count: 0 })).toBe(30 * day);
  });
  it('never goes under the 1 ms lastUpdated precision', () => {
    expect(firstWidthMs(policy, { widthMs: 0.2, count: 200_000 })).toBe(1);
  });
});
