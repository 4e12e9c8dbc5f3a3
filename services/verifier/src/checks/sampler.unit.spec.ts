import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLowestSampler } from './sampler.ts';

const score = (seed: number, ref: string) => createHash('sha256').update(`${seed}:${ref}`).digest('hex');
const refs = Array.from({ length: 2000 }, (_, i) => `Patient/p-${i}`);

function sample(seed: number, size: number, items: string[]): string[] {
  const sampler = createLowestSampler<string>(size);
  for (const ref of items) sampler.offer(score(seed, ref), ref);
  return sampler.result().map((s) => s.item);
}

describe('lowest-hash sampler', () => {
  it('keeps exactly the items with the lowest scores, lowest first', () => {
    const expected = [...refs].sort((a, b) => (score(7, a) < score(7, b) ? -1 : 1)).slice(0, 25);
    expect(sample(7, 25, refs)).toEqual(expected);
  });

  it('is reproducible and independent of arrival order; another seed gives another sample', () => {
    const reversed = [...refs].reverse();
    const shuffled = [...refs].sort((a, b) => (score(99, a) < score(99, b) ? -1 : 1));
    expect(sample(7, 40, reversed)).toEqual(sample(7, 40, refs));
    expect(sample(7, 40, shuffled)).toEqual(sample(7, 40, refs));
    expect(sample(8, 40, refs)).not.toEqual(sample(7, 40, refs));
  });

  it('never holds more than its size, and holds everything when the stream is shorter', () => {
    const sampler = createLowestSampler<string>(10);
    for (const [i, ref] of refs.entries()) {
      sampler.offer(score(1, ref), ref);
      expect(sampler.size).toBe(Math.min(10, i + 1));
    }
    expect(sample(1, 5000, refs.slice(0, 30))).toHaveLength(30);
    expect(new Set(sample(1, 5000, refs.slice(0, 30)))).toEqual(new Set(refs.slice(0, 30)));
  });

  it('a size of 0 keeps nothing', () => {
    expect(sample(1, 0, refs)).toEqual([]);
  });
});
