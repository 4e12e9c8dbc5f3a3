import { describe, expect, it } from 'vitest';
import { REDACTED, redactHeaders, redactText, redactUrl } from './redact.ts';

const sas =
  'sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2026-12-01T00:00:00Z&st=2026-11-01T00:00:00Z&spr=https&sig=AbC%2Bdef%2F123%3D';

describe('redactUrl', () => {
  it('masks every SAS parameter and keeps the rest of the URL', () => {
    const out = redactUrl(`https://acct.blob.core.windows.net/c/file.ndjson?${sas}&comp=list`);
    expect(out).toBe(
      `https://acct.blob.core.windows.net/c/file.ndjson?sv=${REDACTED}&ss=${REDACTED}&srt=${REDACTED}&sp=${REDACTED}&se=${REDACTED}&st=${REDACTED}&spr=${REDACTED}&sig=${REDACTED}&comp=list`,
    );
    expect(out).not.toContain('AbC');
  });

  it('masks user-delegation SAS keys (skoid, sktid, skt, ske, sks, skv, sr)', () => {
    const url =
      'https://a.blob.core.windows.net/c/b?skoid=oid-1&sktid=tid-2&skt=t3&ske=e4&sks=b&skv=v5&sr=b&sig=s6';
    const out = redactUrl(url);
    for (const secret of ['oid-1', 'tid-2', 't3', 'e4', 'v5', 's6']) expect(out).not.toContain(secret);
  });

  it('masks OAuth and credential parameters, case-insensitively, after ? & or ;', () => {
    const out = redactUrl(
      'https://x.test/cb?code=c0de&access_token=at1&TOKEN=t2&client_secret=cs3&password=pw4&api_key=k5&apikey=k6&key=k7;refresh_token=r8&state=keep',
    );
    for (const secret of ['c0de', 'at1', 't2', 'cs3', 'pw4', 'k5', 'k6', 'k7', 'r8']) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('state=keep');
  });

  it('masks userinfo', () => {
    expect(redactUrl('https://alice:s3cret@fhir.example.org/fhir/Patient?_count=1')).toBe(
      `https://${REDACTED}@fhir.example.org/fhir/Patient?_count=1`,
    );
    expect(redactUrl(new URL('http://tokenonly@h.test/x'))).toBe(`http://${REDACTED}@h.test/x`);
  });

  it('leaves harmless URLs and look-alike parameters alone', () => {
    const url =
      'http://127.0.0.1:8081/fhir/$export?_type=Patient&_since=2026-01-01T00:00:00Z&keyword=x&signal=y';
    expect(redactUrl(url)).toBe(url);
  });

  it('keeps an @ in the query from being mistaken for userinfo', () => {
    expect(redactUrl('https://h.test/p?email=a@b.test')).toBe('https://h.test/p?email=a@b.test');
  });
});

describe('redactText', () => {
  it('masks URLs inside prose, bearer and basic credentials, and JSON token members', () => {
    const text = `fetch of https://u:p@a.blob.core.windows.net/x?sig=zzz failed; Authorization: Bearer eyJ.abc-def_ghi; Basic dXNlcjpwYXNz; {"access_token": "t0k\\"en", "client_secret":"cs"} and password=pw1, token=t2`;
    const out = redactText(text);
    for (const secret of ['u:p', 'zzz', 'eyJ.abc', 'dXNlcjpwYXNz', 't0k', '"cs"', 'pw1', 't2'])
      expect(out).not.toContain(secret);
    expect(out).toContain('a.blob.core.windows.net/x');
  });
});

describe('redactHeaders', () => {
  it('masks credential headers whatever their case, and nothing else', () => {
    expect(
      redactHeaders({
        Authorization: 'Bearer abc',
        'proxy-authorization': 'Basic xyz',
        cookie: 'a=b',
        'Set-Cookie': ['s=1', 't=2'],
        'X-Api-Key': 'k',
        'Ocp-Apim-Subscription-Key': 'sub',
        accept: 'application/fhir+json',
      }),
    ).toEqual({
      Authorization: REDACTED,
      'proxy-authorization': REDACTED,
      cookie: REDACTED,
      'Set-Cookie': REDACTED,
      'X-Api-Key': REDACTED,
      'Ocp-Apim-Subscription-Key': REDACTED,
      accept: 'application/fhir+json',
    });
  });
});

describe('redactText on Azure connection strings', () => {
  it('masks the keys of Storage and Service Bus connection strings and keeps the endpoints', () => {
    expect(
      redactText(
        'Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=abc+/d==;EntityPath=t',
      ),
    ).toBe(
      `Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=${REDACTED};EntityPath=t`,
    );
    expect(redactText('AccountName=acct;AccountKey=Eby8vdM0==;BlobEndpoint=http://127.0.0.1:1/acct;')).toBe(
      `AccountName=acct;AccountKey=${REDACTED};BlobEndpoint=http://127.0.0.1:1/acct;`,
    );
  });
});
