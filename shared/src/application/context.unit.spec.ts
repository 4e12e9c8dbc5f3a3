import { describe, expect, it } from 'vitest';
import { pollDelayMs } from './context.ts';

describe('poll delays of remote jobs', () => {
  it('start fast, poll every second for a while, then back off to 10 s', () => {
    expect([0, 1, 2, 11, 12, 13, 14, 15, 30].map((n) => pollDelayMs(n))).toEqual([
      250, 500, 1000, 1000, 2000, 4000, 8000, 10_000, 10_000,
    ]);
  });
  it("a server's Retry-After shortens a delay but never stretches it", () => {
    expect(pollDelayMs(5, 120_000)).toBe(1000);
    expect(pollDelayMs(20, 3000)).toBe(3000);
    expect(pollDelayMs(3, 0)).toBe(250);
  });
});
