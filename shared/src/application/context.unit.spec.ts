import { describe, expect, it } from 'vitest';
import { pollDelayMs } from './context.ts';

describe('poll delays of remote jobs', () => {
  it('poll every 250 ms for the first 5 s, then every twentieth of the time elapsed, up to 30 s', () => {
    expect([0, 1, 19, 20].map((n) => pollDelayMs(n))).toEqual([250, 250, 250, 250]);
    expect(pollDelayMs(21)).toBeCloseTo(262.5);
    // Wherever a job ends, the next poll comes within ~5% of its running time (or 250 ms).
    let elapsed = 0;
    for (let n = 0; n < 500; n++) {
      const delay = pollDelayMs(n);
      expect(delay).toBeLessThanOrEqual(Math.max(250, elapsed * 0.05 + 1e-9));
      expect(delay).toBeGreaterThanOrEqual(250);
      elapsed += delay;
    }
    expect(pollDelayMs(500)).toBe(30_000);
    expect(pollDelayMs(1_000_000)).toBe(30_000);
  });
  it("a server's Retry-After shortens a delay but never stretches it", () => {
    expect(pollDelayMs(5, 120_000)).toBe(250);
    expect(pollDelayMs(200, 120_000)).toBe(30_000);
    expect(pollDelayMs(200, 3000)).toBe(3000);
    expect(pollDelayMs(3, 0)).toBe(250);
  });
});
