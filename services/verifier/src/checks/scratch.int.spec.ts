import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openScratch, type ScratchRow } from './scratch.ts';

const h = (text: string) => createHash('sha256').update(text).digest();
const row = (id: string, content: string, pending = false): ScratchRow => ({ id, hash: h(content), pending });

describe('reconciliation scratch file', () => {
  it('tallies and lists matching, missing, extra, differing and pending per type', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fm-scratch-')), 'nested');
    const scratch = openScratch(dir);
    try {
      expect(existsSync(scratch.file)).toBe(true);
      scratch.add('source', 'Patient', [row('a', '1'), row('b', '2'), row('c', '3'), row('p', '9', true)]);
      scratch.add('source', 'Patient', [row('q', '8', true), row('d', '4')]);
      // a matches, b differs, c missing, d matches; p pending but also differing; q pending and missing; z extra.
      scratch.add('destination', 'Patient', [
        row('a', '1'),
        row('b', 'changed'),
        row('p', 'old'),
        row('z', '0'),
      ]);
      scratch.add('destination', 'Patient', [row('d', '4')]);
      // A page boundary that moved: a row seen twice counts once.
      scratch.add('destination', 'Patient', [row('d', '4')]);
      scratch.add('source', 'Condition', [row('a', '1')]);

      expect(scratch.tally('Patient')).toEqual({
        source: 6,
        destination: 5,
        matching: 2,
        missing: 1,
        extra: 1,
        differing: 1,
        pending: 2,
      });
      expect(scratch.tally('Condition')).toEqual({
        source: 1,
        destination: 0,
        matching: 0,
        missing: 1,
        extra: 0,
        differing: 0,
        pending: 0,
      });
      expect(scratch.tally('Encounter')).toEqual({
        source: 0,
        destination: 0,
        matching: 0,
        missing: 0,
        extra: 0,
        differing: 0,
        pending: 0,
      });
      expect(scratch.list('missing', 'Patient', 10)).toEqual(['c']);
      expect(scratch.list('differing', 'Patient', 10)).toEqual(['b']);
      expect(scratch.list('extra', 'Patient', 10)).toEqual(['z']);
      expect(scratch.list('pending', 'Patient', 10)).toEqual(['p', 'q']);
      expect(scratch.list('pending', 'Patient', 1)).toEqual(['p']);
      expect(scratch.list('pending', 'Patient', 0)).toEqual([]);
    } finally {
      scratch.close();
    }
    expect(readdirSync(dir)).toEqual([]);
    scratch.close();
  });
});
