import { describe, expect, it } from 'vitest';
import { type FhirResource, patientId, planWave, seededTypes } from './generator.ts';
import { Decimal, stringify } from './json-decimal.ts';

const options = { seed: 42, patients: 30, waves: 3 };

function allWrites() {
  return [0, 1, 2].flatMap((w) => planWave(options, w).writes.map((write) => ({ wave: w, write })));
}

describe('synthetic data generator', () => {
  it('is deterministic: the same seed gives byte-identical waves', () => {
    expect(stringify(planWave(options, 1))).toBe(stringify(planWave(options, 1)));
    expect(stringify(planWave({ ...options, seed: 43 }, 1))).not.toBe(stringify(planWave(options, 1)));
  });

  it('writes every seeded type, about ten resources per patient', () => {
    const created = allWrites().filter((w) => w.write.kind === 'put' && !w.write.isUpdate);
    const types = new Set(created.map((w) => (w.write.kind === 'put' ? w.write.resource.resourceType : '')));
    expect([...types].sort()).toEqual([...seededTypes].sort());
    expect(created.length).toBeGreaterThanOrEqual(options.patients * 9);
    expect(created.length).toBeLessThanOrEqual(options.patients * 10 + 8);
  });

  it('spreads patients over the waves and gives some purely numeric ids', () => {
    for (const wave of [0, 1, 2]) {
      const patients = planWave(options, wave).writes.filter(
        (w) => w.kind === 'put' && !w.isUpdate && w.resource.resourceType === 'Patient',
      );
      expect(patients).toHaveLength(10);
    }
    expect(patientId(42, 3)).toMatch(/^\d+$/);
    expect(patientId(42, 4)).toMatch(/^[a-z]/);
  });

  it('every reference points at a resource written in the same or an earlier wave that is never deleted', () => {
    const written = new Map<string, number>();
    const deleted = new Set<string>();
    for (const { wave, write } of allWrites()) {
      if (write.kind === 'put') {
        const key = `${write.resource.resourceType}/${write.resource.id}`;
        if (!written.has(key)) written.set(key, wave);
      } else deleted.add(`${write.resourceType}/${write.id}`);
    }
    for (const { wave, write } of allWrites()) {
      if (write.kind !== 'put') continue;
      for (const ref of references(write.resource)) {
        if (ref.startsWith('#')) continue;
        expect({ from: write.resource.id, ref, known: written.has(ref) }).toEqual({
          from: write.resource.id,
          ref,
          known: true,
        });
        expect(written.get(ref)).toBeLessThanOrEqual(wave);
        expect(deleted.has(ref)).toBe(false);
      }
    }
  });

  it('later waves update earlier resources and delete some', () => {
    const later = planWave(options, 2).writes;
    expect(later.some((w) => w.kind === 'put' && w.isUpdate && w.resource.resourceType === 'Patient')).toBe(
      true,
    );
    expect(later.some((w) => w.kind === 'put' && w.isUpdate && w.resource.resourceType === 'Condition')).toBe(
      true,
    );
    const deletedTypes = later.flatMap((w) => (w.kind === 'delete' ? [w.resourceType] : []));
    expect(deletedTypes).toContain('Observation');
    expect(deletedTypes.every((t) => t === 'Observation' || t === 'AllergyIntolerance')).toBe(true);
    expect(planWave(options, 0).writes.every((w) => w.kind === 'put' && !w.isUpdate)).toBe(true);
  });

  it('observations carry decimals with more significant digits than a double holds', () => {
    const text = stringify(planWave(options, 0));
    const values = [...text.matchAll(/"value":(-?[0-9.]+)/g)].map((m) => m[1] ?? '');
    expect(values.length).toBeGreaterThan(0);
    for (const v of values) expect(v.replace('.', '').replace(/^0+/, '').length).toBeGreaterThan(18);
    expect(values.some((v) => /\.0{19}$/.test(v))).toBe(true);
  });
});

describe('exact decimals in JSON', () => {
  it('writes the digits verbatim, including trailing zeros', () => {
    expect(stringify({ a: new Decimal('98.600000000000000000001'), b: [new Decimal('-1.50')] })).toBe(
      '{"a":98.600000000000000000001,"b":[-1.50]}',
    );
  });
  it('refuses text that is not a JSON number', () => {
    expect(() => new Decimal('1,5')).toThrow(/not a JSON number/);
    expect(() => new Decimal('01.5')).toThrow(/not a JSON number/);
  });
});

function references(resource: FhirResource): string[] {
  const out: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object' && !(node instanceof Decimal)) {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'reference' && typeof v === 'string') out.push(v);
        else if (k !== 'contained') walk(v);
      }
    }
  };
  walk(resource);
  return out;
}

describe('seed tag', () => {
  it('every generated resource carries its seed tag exactly once, so tests can scope searches to it', () => {
    for (const { write } of allWrites()) {
      if (write.kind !== 'put') continue;
      const meta = write.resource.meta as { tag?: { system: string; code: string }[] } | undefined;
      const tags = (meta?.tag ?? []).filter((t) => t.system === 'urn:fhir-migrate:test');
      expect({ ref: `${write.resource.resourceType}/${write.resource.id}`, tags }).toEqual({
        ref: `${write.resource.resourceType}/${write.resource.id}`,
        tags: [{ system: 'urn:fhir-migrate:test', code: 'seed-42' }],
      });
    }
  });
});
