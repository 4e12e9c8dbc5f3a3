import { describe, expect, it } from 'vitest';
import { canonicalString, differingPaths, parseLossless } from './canonical.ts';

const staged =
  '{"resourceType":"Observation","id":"o1","meta":{"versionId":"3","lastUpdated":"2025-01-01T00:00:00Z","source":"urn:x"},"valueQuantity":{"value":37.0000000000000000000},"note":[{"text":"a"}]}';

describe('canonical comparison', () => {
  it('ignores meta.versionId and meta.lastUpdated only', () => {
    const dest =
      '{"resourceType":"Observation","id":"o1","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00Z","source":"urn:x"},"valueQuantity":{"value":37.0000000000000000000},"note":[{"text":"a"}]}';
    expect(differingPaths(parseLossless(staged), parseLossless(dest))).toEqual([]);
  });
  it('sees a lost digit or trailing zero in a decimal', () => {
    const dest = staged.replace('37.0000000000000000000', '37');
    expect(differingPaths(parseLossless(staged), parseLossless(dest))).toEqual(['valueQuantity.value']);
    const dest2 = staged.replace('37.0000000000000000000', '37.0000000000000000001');
    expect(differingPaths(parseLossless(staged), parseLossless(dest2))).toEqual(['valueQuantity.value']);
  });
  it('names changed, added and removed paths', () => {
    const dest =
      '{"resourceType":"Observation","id":"o1","meta":{"source":"urn:y"},"valueQuantity":{"value":37.0000000000000000000},"note":[{"text":"b"},{"text":"c"}],"status":"final"}';
    expect(differingPaths(parseLossless(staged), parseLossless(dest))).toEqual([
      'meta.source',
      'note.length',
      'note[0].text',
      'status',
    ]);
  });
  it('a meta holding only rewritten fields equals no meta', () => {
    expect(
      differingPaths(parseLossless('{"id":"a","meta":{"versionId":"1"}}'), parseLossless('{"id":"a"}')),
    ).toEqual([]);
  });
});

describe('canonical string', () => {
  const a =
    '{"resourceType":"Observation","id":"o1","valueQuantity":{"value":1.50,"unit":"kg"},"note":[{"text":"ä"}]}';

  it('sorts keys at every level, so member order does not matter', () => {
    const reordered =
      '{"note":[{"text":"ä"}],"valueQuantity":{"unit":"kg","value":1.50},"id":"o1","resourceType":"Observation"}';
    expect(canonicalString(parseLossless(reordered))).toBe(canonicalString(parseLossless(a)));
    expect(canonicalString(parseLossless(a))).toBe(
      '{"id":"o1","note":[{"text":"ä"}],"resourceType":"Observation","valueQuantity":{"unit":"kg","value":1.50}}',
    );
  });

  it('keeps decimals exactly as written: 1.50 and 1.5 differ, 21 digits survive', () => {
    expect(canonicalString(parseLossless(a.replace('1.50', '1.5')))).not.toBe(
      canonicalString(parseLossless(a)),
    );
    const long = a.replace('1.50', '98.600000000000000000001');
    expect(canonicalString(parseLossless(long))).toContain('"value":98.600000000000000000001');
  });

  it('ignores meta.versionId and meta.lastUpdated, drops a meta left empty, keeps the rest of meta', () => {
    const withMeta = (meta: string) => a.replace('{"resourceType"', `{"meta":${meta},"resourceType"`);
    const plain = canonicalString(parseLossless(a));
    expect(
      canonicalString(parseLossless(withMeta('{"versionId":"3","lastUpdated":"2025-01-01T00:00:00Z"}'))),
    ).toBe(plain);
    expect(canonicalString(parseLossless(withMeta('{}')))).toBe(plain);
    const tagged = canonicalString(parseLossless(withMeta('{"versionId":"1","tag":[{"code":"x"}]}')));
    expect(tagged).toContain('"meta":{"tag":[{"code":"x"}]}');
    expect(tagged).not.toContain('versionId');
  });

  it('agrees with differingPaths: equal strings exactly when no path differs', () => {
    const variants = [
      a,
      a.replace('1.50', '1.5'),
      a.replace('"ä"', '"a"'),
      a.replace('[{"text":"ä"}]', '[{"text":"ä"},{"text":"b"}]'),
      a.replace('{"resourceType"', '{"meta":{"versionId":"9"},"resourceType"'),
      a.replace('{"resourceType"', '{"meta":{"source":"urn:x"},"resourceType"'),
      a.replace('"unit":"kg"', '"unit":null'),
      a.replace('"unit":"kg"', '"unit":"kg","code":"kg"'),
    ].map(parseLossless);
    for (const x of variants) {
      for (const y of variants) {
        const same = canonicalString(x) === canonicalString(y);
        expect(same).toBe(differingPaths(x, y).length === 0);
      }
    }
  });
});
