import { describe, expect, it } from 'vitest';
import { DisallowedOriginError } from './errors.ts';
import { assertAllowedOrigin, originOf } from './origin.ts';

const allowed = ['http://127.0.0.1:8081/fhir', 'https://acct.blob.core.windows.net'];

describe('assertAllowedOrigin', () => {
  it('accepts URLs on the source origin or a configured extra origin', () => {
    expect(assertAllowedOrigin('http://127.0.0.1:8081/fhir/Binary/abc', allowed).pathname).toBe(
      '/fhir/Binary/abc',
    );
    expect(() =>
      assertAllowedOrigin('https://ACCT.blob.core.windows.net:443/c/f?sig=x', allowed),
    ).not.toThrow();
  });

  it.each([
    ['another host', 'http://169.254.169.254/latest/meta-data'],
    ['another port', 'http://127.0.0.1:8082/fhir/Binary/abc'],
    ['another scheme', 'https://127.0.0.1:8081/fhir/Binary/abc'],
    ['a look-alike host', 'https://acct.blob.core.windows.net.evil.test/c/f'],
    ['a file URL', 'file:///etc/passwd'],
    ['a relative URL', '/fhir/Binary/abc'],
  ])('refuses %s', (_what, url) => {
    expect(() => assertAllowedOrigin(url, allowed)).toThrow(DisallowedOriginError);
  });

  it('names the URL redacted in the error', () => {
    try {
      assertAllowedOrigin('https://evil.test/f?sig=topsecret', allowed);
      expect.unreachable();
    } catch (error) {
      expect(String(error)).toContain('https://evil.test/f?sig=REDACTED');
      expect(String(error)).not.toContain('topsecret');
    }
  });
});

describe('originOf', () => {
  it('normalises case and default ports', () => {
    expect(originOf('HTTPS://Example.ORG:443/fhir/')).toBe('https://example.org');
  });
});
