import { afterAll, describe, expect, it } from 'vitest';
import { createFhirClient } from '../client.ts';
import { bulkDataExportUrl } from './export-bulkdata.ts';
import { parseExportManifest } from './export-common.ts';
import { hapiExportBounds, hapiExportUrl } from './export-hapi.ts';

const client = createFhirClient({ baseUrl: 'http://fhir.test/fhir/' });
afterAll(() => client.close());

describe('hapiExportBounds (HAPI _since/_until are inclusive, millisecond precision)', () => {
  it('sends the last millisecond before till as _until', () => {
    expect(hapiExportBounds({ since: '2026-01-01T00:00:00Z', till: '2026-02-01T00:00:00Z' })).toEqual({
      since: '2026-01-01T00:00:00.000Z',
      until: '2026-01-31T23:59:59.999Z',
    });
  });

  it('normalises offsets and rounds sub-millisecond bounds the right way', () => {
    expect(
      hapiExportBounds({ since: '2026-01-01T01:00:00.0001+01:00', till: '2026-01-01T10:00:00.1234567Z' }),
    ).toEqual({ since: '2026-01-01T00:00:00.001Z', until: '2026-01-01T10:00:00.123Z' });
    expect(hapiExportBounds({ till: '2026-01-01T10:00:00.120000+00:00' })).toEqual({
      until: '2026-01-01T10:00:00.119Z',
    });
  });

  it('builds the kick-off URL with encoded parameters', () => {
    const url = new URL(
      hapiExportUrl(client, {
        since: '2026-01-01T00:00:00+00:00',
        till: '2026-02-01T00:00:00Z',
        types: ['Patient', 'Observation'],
      }),
    );
    expect(url.origin + url.pathname).toBe('http://fhir.test/fhir/$export');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      _outputFormat: 'application/fhir+ndjson',
      _type: 'Patient,Observation',
      _since: '2026-01-01T00:00:00.000Z',
      _until: '2026-01-31T23:59:59.999Z',
    });
    expect(url.search).toContain('_outputFormat=application%2Ffhir%2Bndjson');
  });

  it('omits _type for all types and refuses names that are not resource types', () => {
    expect(
      new URL(hapiExportUrl(client, { till: '2026-02-01T00:00:00Z', types: [] })).searchParams.has('_type'),
    ).toBe(false);
    expect(() =>
      hapiExportUrl(client, { till: '2026-02-01T00:00:00Z', types: ['Patient&_since=x'] }),
    ).toThrow(/not a resource type name/);
  });
});

describe('bulkDataExportUrl', () => {
  it('bounds the window with one percent-encoded _typeFilter per type', () => {
    const url = bulkDataExportUrl(client, {
      since: '2026-01-01T00:00:00+00:00',
      till: '2026-02-01T00:00:00+00:00',
      types: ['Patient', 'Observation'],
    });
    expect(url).toContain(
      '_typeFilter=Patient%3F_lastUpdated%3Dlt2026-02-01T00%3A00%3A00%2B00%3A00&_typeFilter=Observation%3F_lastUpdated%3Dlt2026-02-01T00%3A00%3A00%2B00%3A00',
    );
    const params = new URL(url).searchParams;
    expect(params.getAll('_typeFilter')).toEqual([
      'Patient?_lastUpdated=lt2026-02-01T00:00:00+00:00',
      'Observation?_lastUpdated=lt2026-02-01T00:00:00+00:00',
    ]);
    expect(params.get('_since')).toBe('2026-01-01T00:00:00+00:00');
    expect(params.has('_until')).toBe(false);
  });

  it('can carry both bounds in _typeFilter instead of _since (for HAPI)', () => {
    const url = bulkDataExportUrl(
      client,
      { since: '2026-01-01T00:00:00Z', till: '2026-02-01T00:00:00Z', types: ['Patient'] },
      { boundsInTypeFilter: true },
    );
    const params = new URL(url).searchParams;
    expect(params.has('_since')).toBe(false);
    expect(params.getAll('_typeFilter')).toEqual([
      'Patient?_lastUpdated=ge2026-01-01T00:00:00Z&_lastUpdated=lt2026-02-01T00:00:00Z',
    ]);
    expect(url).toContain(
      '_typeFilter=Patient%3F_lastUpdated%3Dge2026-01-01T00%3A00%3A00Z%26_lastUpdated%3Dlt2026',
    );
  });

  it('rejects an invalid till', () => {
    expect(() => bulkDataExportUrl(client, { till: 'tomorrow', types: ['Patient'] })).toThrow(/till/);
  });
});

describe('parseExportManifest', () => {
  const hapiManifest = {
    transactionTime: '2026-11-26T13:18:34.301+00:00',
    request: 'http://127.0.0.1:8081/fhir/$export?_type=Patient',
    requiresAccessToken: true,
    output: [{ type: 'Patient', url: 'http://127.0.0.1:8081/fhir/Binary/OjAj' }],
    error: [],
  };

  it('accepts HAPI manifests (no deleted array) and defaults deleted to []', () => {
    expect(parseExportManifest(hapiManifest)).toEqual({
      ok: true,
      manifest: {
        transactionTime: '2026-11-26T13:18:34.301+00:00',
        requiresAccessToken: true,
        output: [{ type: 'Patient', url: 'http://127.0.0.1:8081/fhir/Binary/OjAj' }],
        deleted: [],
        error: [],
      },
    });
  });

  it('keeps counts and deleted files of IG manifests', () => {
    const parsed = parseExportManifest({
      ...hapiManifest,
      requiresAccessToken: false,
      output: [{ type: 'Patient', url: 'https://s/p.ndjson', count: 3 }],
      deleted: [{ type: 'Bundle', url: 'https://s/del.ndjson' }],
      extension: { whatever: 1 },
    });
    expect(parsed.ok && parsed.manifest).toMatchObject({
      requiresAccessToken: false,
      output: [{ type: 'Patient', url: 'https://s/p.ndjson', count: 3 }],
      deleted: [{ type: 'Bundle', url: 'https://s/del.ndjson' }],
    });
  });

  it.each([
    [{ ...hapiManifest, transactionTime: undefined }, /transactionTime/],
    [{ ...hapiManifest, output: [{ type: 'Patient' }] }, /output\.0\.url/],
    [{ ...hapiManifest, output: 'nope' }, /output/],
    [null, /root/],
  ])('rejects %j', (body, reason) => {
    const parsed = parseExportManifest(body);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });
});
