import { describe, expect, it } from 'vitest';
import { pendingTest } from './as-of.ts';
import { normalizeFilter, parseRef, withQuery } from './query.ts';

describe('check filter', () => {
  it('is re-encoded the way a server reads it, so | and spaces cannot break the request line', () => {
    expect(normalizeFilter('_tag=urn:fhir-migrate:test|seed-42')).toBe(
      '_tag=urn%3Afhir-migrate%3Atest%7Cseed-42',
    );
    expect(normalizeFilter('?_tag=a%7Cb&name=van der')).toBe('_tag=a%7Cb&name=van+der');
    expect(normalizeFilter(undefined)).toBe('');
    expect(normalizeFilter('  ')).toBe('');
  });
  it('may not set what the checks set themselves', () => {
    for (const name of ['_count', '_summary', '_elements', '_total', '_include']) {
      expect(() => normalizeFilter(`_tag=x&${name}=1`)).toThrow(`may not set ${name}`);
    }
  });
  it('joins into a query without empty parts', () => {
    expect(withQuery('Patient', '_count=5', '')).toBe('Patient?_count=5');
    expect(withQuery('Patient', '', '')).toBe('Patient');
  });
});

describe('Type/id references', () => {
  it('accepts only safe type names and FHIR ids', () => {
    expect(parseRef('Patient/pat-1.2')).toEqual({ type: 'Patient', id: 'pat-1.2' });
    expect(parseRef('Observation/123')).toEqual({ type: 'Observation', id: '123' });
    for (const bad of [
      'Patient',
      'patient/1',
      'Patient/',
      'Patient/a/b',
      'Patient/a b',
      `Patient/${'x'.repeat(65)}`,
    ]) {
      expect(parseRef(bad)).toBeUndefined();
    }
  });
});

describe('asOf', () => {
  it('a source change at or after the watermark is pending, compared as instants', () => {
    const pending = pendingTest('2026-01-01T10:00:00.000Z');
    expect(pending('2026-01-01T10:00:00Z')).toBe(true);
    expect(pending('2026-01-01T11:00:00.000+01:00')).toBe(true);
    expect(pending('2026-01-01T09:59:59.9999Z')).toBe(false);
    expect(pending('2026-01-01T10:59:59.999+01:00')).toBe(false);
    expect(pending(undefined)).toBe(false);
  });
  it('without a watermark nothing is pending; a malformed one is refused', () => {
    expect(pendingTest(undefined)('2999-01-01T00:00:00Z')).toBe(false);
    expect(() => pendingTest('yesterday')).toThrow(/not a FHIR instant/);
  });
});
