import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, seedUnitToDuration } from './duration.ts';
import { DomainError } from './errors.ts';
import { decideWindow, nextWindow, type WindowPolicy, windowPolicy } from './window.ts';

const day = 86_400_000;
const policy: WindowPolicy = {
  chunkDurationMs: 30 * day,
  safetyLagMs: 60_000,
  chunkLimit: 100,
  minWindowMs: 1000,
};
const t0 = Date.parse('2025-01-01T00:00:00Z');

describe('window planning', () => {
  it('plans [watermark, watermark + duration) when that is older than now − safetyLag', () => {
    expect(nextWindow(t0, t0 + 90 * day, policy)).toEqual({ since: t0, till: t0 + 30 * day });
  });
  it('never plans past now − safetyLag', () => {
    expect(nextWindow(t0, t0 + 10 * day, policy)).toEqual({ since: t0, till: t0 + 10 * day - 60_000 });
  });
  it('plans nothing when the watermark is within the safety lag of now', () => {
    expect(nextWindow(t0, t0 + 30_000, policy)).toBeUndefined();
    expect(nextWindow(t0, t0 + 60_000, policy)).toBeUndefined();
  });
  it('consecutive windows chain without gap or overlap', () => {
    const first = nextWindow(t0, t0 + 100 * day, policy);
    const second = nextWindow(first?.till ?? 0, t0 + 100 * day, policy);
    expect(second?.since).toBe(first?.till);
  });
  it('accepts a window at or under chunkLimit', () => {
    expect(decideWindow({ since: t0, till: t0 + day }, 100, policy)).toEqual({
      action: 'accept',
      window: { since: t0, till: t0 + day },
    });
  });
  it('splits a window over chunkLimit into two half-open halves', () => {
    expect(decideWindow({ since: t0, till: t0 + day }, 101, policy)).toEqual({
      action: 'split',
      first: { since: t0, till: t0 + day / 2 },
      second: { since: t0 + day / 2, till: t0 + day },
    });
  });
  it('does not split below minWindowMs', () => {
    expect(decideWindow({ since: t0, till: t0 + 1999 }, 10_000, policy).action).toBe('accept');
    expect(decideWindow({ since: t0, till: t0 + 2000 }, 10_000, policy).action).toBe('split');
  });
  it('refuses an empty or reversed window', () => {
    expect(() => decideWindow({ since: t0, till: t0 }, 1, policy)).toThrow(DomainError);
  });
});

describe('durations', () => {
  it.each([
    ['30d', 30 * day],
    ['12h', 12 * 3_600_000],
    ['5m', 300_000],
    ['2s', 2000],
    ['250ms', 250],
    ['1.5h', 5_400_000],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '30', 'd', '5 minutes', '-1s', '1w'])('refuses %j with the accepted forms', (text) => {
    expect(() => parseDuration(text)).toThrow(/use a number followed by d, h, m, s or ms/);
  });
  it('maps the seed tool units', () => {
    expect(seedUnitToDuration(30, 'Days')).toBe('30d');
    expect(seedUnitToDuration(6, 'Hours')).toBe('6h');
    expect(seedUnitToDuration(10, 'Minutes')).toBe('10m');
    expect(seedUnitToDuration(10, 'Seconds')).toBe('10s');
    expect(seedUnitToDuration(10, 'whatever')).toBe('10m');
  });
  it('formats back', () => {
    expect(formatDuration(30 * day)).toBe('30d');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(1500)).toBe('1500ms');
  });
});

describe('window policy from configuration', () => {
  it('splits down to lastUpdated precision (1 ms)', () => {
    const p = windowPolicy({ chunkDuration: day, safetyLag: 1000, chunkLimit: 5 });
    expect(p).toEqual({ chunkDurationMs: day, safetyLagMs: 1000, chunkLimit: 5, minWindowMs: 1 });
    expect(decideWindow({ since: t0, till: t0 + 2 }, 10, p).action).toBe('split');
    expect(decideWindow({ since: t0, till: t0 + 1 }, 10, p).action).toBe('accept');
  });
});
