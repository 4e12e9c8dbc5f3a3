import { describe, expect, it } from 'vitest';
import { compareInstants, parseInstant } from './instant.ts';

function cmp(a: string, b: string): number {
  const pa = parseInstant(a);
  const pb = parseInstant(b);
  if (!pa || !pb) throw new Error('unparsable');
  return Math.sign(compareInstants(pa, pb));
}

describe('FHIR instants', () => {
  it('compares across offsets and fractional precision exactly', () => {
    expect(cmp('2026-01-01T10:00:00.5+02:00', '2026-01-01T08:00:00.500000Z')).toBe(0);
    expect(cmp('2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000+00:00')).toBe(0);
    expect(cmp('2026-01-01T00:00:00.0001Z', '2026-01-01T00:00:00Z')).toBe(1);
    expect(cmp('2026-01-01T00:00:00.123456789Z', '2026-01-01T00:00:00.12345679Z')).toBe(-1);
    expect(cmp('2025-12-31T23:30:00-01:00', '2026-01-01T00:29:59.999Z')).toBe(1);
  });

  it.each([
    '2026-01-01',
    '2026-01-01T00:00Z',
    '2026-01-01T00:00:00',
    '2026-02-30T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-01-01T24:00:00Z',
    '2026-01-01T00:00:00+15:00',
    ' 2026-01-01T00:00:00Z',
  ])('rejects %j', (text) => {
    expect(parseInstant(text)).toBeUndefined();
  });

  it('accepts a leap day and keeps small years as written', () => {
    expect(parseInstant('2024-02-29T12:00:00Z')).toBeDefined();
    expect(parseInstant('0099-01-01T00:00:00Z')?.epochSeconds).toBe(
      Date.parse('0099-01-01T00:00:00Z') / 1000,
    );
  });
});
