import { describe, expect, it } from 'vitest';
import { reasonOf, sanitizeReason } from './errors.ts';

describe('reasons fit for the ledger', () => {
  it('blanks quoted values, which servers copy from resource content', () => {
    expect(
      sanitizeReason(
        'HAPI-1821: [element="effectiveDateTime"] Invalid attribute value "Zoë Müller 1972-03-04": bad',
      ),
    ).toBe('HAPI-1821: [element="…"] Invalid attribute value "…": bad');
    expect(sanitizeReason("Unknown code 'SECRET-DIAGNOSIS' in system")).toBe("Unknown code '…' in system");
  });
  it('keeps what says where and why', () => {
    expect(sanitizeReason('HTTP 422 for Patient/p1 at line 7')).toBe('HTTP 422 for Patient/p1 at line 7');
  });
  it('redacts secrets and truncates', () => {
    expect(reasonOf(new Error('GET https://x.blob.core.windows.net/c/f?sv=1&sig=abc failed'))).not.toContain(
      'abc',
    );
    expect(sanitizeReason('x'.repeat(5000))).toHaveLength(1000);
  });
});
