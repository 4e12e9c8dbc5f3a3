import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { describe, expect, it } from 'vitest';
import { scanResourceFields } from './json-scan.ts';
import { checkResourceLine, createResourceLineChecker } from './ndjson.ts';

const scan = (text: string) => scanResourceFields(Buffer.from(text, 'utf8'));

const patient = JSON.stringify({
  resourceType: 'Patient',
  id: 'p-1',
  meta: { versionId: '2', lastUpdated: '2026-01-15T10:00:00.123Z', tag: [{ system: 's', code: 'c' }] },
  name: [{ family: 'Müller', given: ['Zoë', 'José'], text: 'tab\there "quoted" \\ back \u0001' }],
  birthDate: '1970-01-01',
  active: true,
  deceasedBoolean: false,
  multipleBirthInteger: -2,
  extension: [{ url: 'x', valueDecimal: 37.0e-2, id: 'not-the-id' }],
  contained: [{ resourceType: 'Organization', id: 'inner', meta: { lastUpdated: '1999-01-01T00:00:00Z' } }],
  link: null,
});

describe('scanResourceFields', () => {
  it('picks top-level resourceType and id and meta.lastUpdated, not nested ones', () => {
    expect(scan(patient)).toEqual({
      resourceType: 'Patient',
      id: 'p-1',
      lastUpdated: '2026-01-15T10:00:00.123Z',
    });
    expect(scan('  {"id":"a" , "resourceType" : "Observation"}  ')).toEqual({
      resourceType: 'Observation',
      id: 'a',
      lastUpdated: undefined,
    });
  });

  it('follows JSON.parse on duplicate keys: the last wins, and a later meta replaces an earlier one', () => {
    expect(scan('{"resourceType":"A","id":"1","id":"2"}')?.id).toBe('2');
    expect(scan('{"meta":{"lastUpdated":"2026-01-01T00:00:00Z"},"meta":{}}')?.lastUpdated).toBeUndefined();
  });

  it('hands back to the slow path what it does not settle alone', () => {
    for (const text of [
      '{"resourceType":"Pat\\u0069ent","id":"1"}', // an escape in a wanted value
      '{"\\u0069d":"1"}', // an escaped key that spells a wanted name
      '{"id":1}', // a wanted field that is not a string
      '{"meta":{"lastUpdated":null}}',
      '[1,2]', // not an object
      '"text"',
    ])
      expect({ text, scanned: scan(text) }).toEqual({ text, scanned: undefined });
  });

  it('refuses what JSON.parse refuses', () => {
    for (const text of [
      '',
      '{',
      '{"a":1',
      '{"a":1,}',
      '{"a" 1}',
      '{"a":01}',
      '{"a":1.}',
      '{"a":.5}',
      '{"a":1e}',
      '{"a":-}',
      '{"a":tru}',
      '{"a":"x\ny"}',
      '{"a":"\\x"}',
      '{"a":"\\u12G4"}',
      '{"a":[1,]}',
      '{"a":[1 2]}',
      '{"a":1}}',
      '{"a":1} x',
      "{'a':1}",
      '{"a":NaN}',
    ]) {
      expect(() => JSON.parse(text)).toThrow();
      expect({ text, scanned: scan(text) }).toEqual({ text, scanned: undefined });
    }
  });

  it('agrees with JSON.parse on thousands of random mutations of a resource', () => {
    const rng = xoroshiro128plus(20261126);
    const int = (from: number, to: number) => uniformInt(rng, from, to);
    const alphabet = '{}[]":,\\ 0123456789.-+eEtrufalsn\tx\u00e9';
    let accepted = 0;
    // With escapes (the careful string scan) and without (strings skipped by indexOf).
    const plain = patient.replace(/,"text":"(?:[^"\\]|\\.)*"/, '');
    expect(plain).not.toContain('\\');
    for (let round = 0; round < 6000; round++) {
      let text = round % 2 === 0 ? patient : plain;
      for (let edits = int(1, 3); edits > 0; edits--) {
        const at = int(0, text.length - 1);
        const op = int(0, 2);
        const char = alphabet[int(0, alphabet.length - 1)] as string;
        text =
          op === 0
            ? text.slice(0, at) + text.slice(at + 1)
            : op === 1
              ? text.slice(0, at) + char + text.slice(at)
              : text.slice(0, at) + char + text.slice(at + 1);
      }
      let parsed: { resourceType?: unknown; id?: unknown; meta?: { lastUpdated?: unknown } } | undefined;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const scanned = scan(text);
      if (scanned === undefined) continue;
      // Whatever the scan settles must be valid JSON with exactly those fields.
      accepted++;
      expect({ text, valid: parsed !== undefined }).toEqual({ text, valid: true });
      expect(scanned).toEqual({
        resourceType: typeof parsed?.resourceType === 'string' ? parsed.resourceType : undefined,
        id: typeof parsed?.id === 'string' ? parsed.id : undefined,
        lastUpdated:
          parsed?.meta && typeof parsed.meta === 'object' && typeof parsed.meta.lastUpdated === 'string'
            ? parsed.meta.lastUpdated
            : undefined,
      });
    }
    // Many mutations land in places that keep the JSON valid (inside strings): the fast path must take them.
    expect(accepted).toBeGreaterThan(500);
  });
});

describe('createResourceLineChecker', () => {
  const options = { expectedType: 'Patient', since: '2026-01-01T00:00:00Z', till: '2026-02-01T00:00:00Z' };
  const check = createResourceLineChecker(options);

  it('gives the same verdict as checkResourceLine, fast path or not', () => {
    for (const text of [
      patient,
      patient.replace('"Patient"', '"Observation"'),
      patient.replace('"p-1"', '"bad id!"'),
      patient.replace('2026-01-15', '2025-12-31'),
      patient.replace('"lastUpdated":"2026-01-15T10:00:00.123Z"', '"lastUpdated":"yesterday"'),
      '{"resourceType":"Patient","id":"1"}',
      '{"resourceType":"Patient"}',
      '{"id":"1"}',
      '[]',
      '{"resourceType":"Patient",',
      '',
    ])
      expect({ text, check: check(Buffer.from(text, 'utf8')) }).toEqual({
        text,
        check: checkResourceLine(text, options),
      });
  });

  it('refuses bytes that are not UTF-8', () => {
    const bytes = Buffer.concat([
      Buffer.from('{"resourceType":"Patient","id":"1","x":"'),
      Buffer.from([0xff]),
      Buffer.from('"}'),
    ]);
    expect(check(bytes)).toEqual({ ok: false, reason: 'invalid-json', detail: 'not valid UTF-8' });
  });
});
