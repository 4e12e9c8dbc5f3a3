import { describe, expect, it } from 'vitest';
import { differingPaths, parseLossless } from './canonical.ts';

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
