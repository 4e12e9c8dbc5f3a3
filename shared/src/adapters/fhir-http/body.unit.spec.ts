import { describe, expect, it } from 'vitest';
import { charsetOf, decodeBody, flattenHeaders } from './body.ts';

describe('reply bodies', () => {
  it('decodes with the declared charset (HAPI sends the import report as ISO-8859-1)', () => {
    const latin1 = Buffer.from([0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72]); // "Müller" in ISO-8859-1
    expect(decodeBody(latin1, 'application/fhir+json;charset=ISO-8859-1')).toBe('Müller');
    expect(decodeBody(Buffer.from('Müller', 'utf8'), 'application/fhir+json; charset="UTF-8"')).toBe(
      'Müller',
    );
    expect(decodeBody(Buffer.from('Müller', 'utf8'), 'application/fhir+json')).toBe('Müller');
    expect(decodeBody(Buffer.from('ok', 'utf8'), 'text/plain; charset=no-such-charset')).toBe('ok');
  });

  it('reads the charset parameter', () => {
    expect(charsetOf('text/plain; Charset=ISO-8859-1')).toBe('iso-8859-1');
    expect(charsetOf('text/plain')).toBeUndefined();
  });

  it('flattens headers to lower-case strings', () => {
    expect(flattenHeaders({ 'Content-Type': 'a', 'set-cookie': ['x', 'y'], none: undefined })).toEqual({
      'content-type': 'a',
      'set-cookie': 'x, y',
    });
  });
});
