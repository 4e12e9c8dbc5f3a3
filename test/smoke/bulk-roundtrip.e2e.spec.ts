/**
 * Harness smoke test, against the real HAPI servers and nothing mocked: seed ~1,000 resources in 3 waves,
 * `$export` them from the source with a `_since` window, download and check every file, serve the files
 * over HTTP, `$import` them into the destination, and compare what each server holds.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { patientId, seededTypes } from '../data/generator.ts';
import { type SeedReport, seedData } from '../data/loader.ts';
import { countOf, getJson, kickOff, pollUntilDone } from '../harness/fhir-http.ts';

interface Manifest {
  transactionTime: string;
  output: { type: string; url: string }[];
  error: unknown[];
}

const { sourceUrl, destinationUrl } = inject('fhirServers');

describe('HAPI harness: $export from the source, $import into the destination', () => {
  // A fresh seed per run keeps ids apart from anything already on reused servers.
  const seed = Math.floor(Date.now() / 1000) % 1_000_000;
  let since: string;
  let report: SeedReport;
  const files = new Map<string, { type: string; body: string }>();
  let fileServer: Server;
  let fileBase: string;

  beforeAll(async () => {
    since = new Date(Date.now() - 1000).toISOString();
    report = await seedData({ baseUrl: sourceUrl, patients: 100, waves: 3, waveGapMs: 1500, seed });
    fileServer = createServer((req, res) => {
      const file = files.get(req.url ?? '');
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/fhir+ndjson' }).end(file.body);
    });
    await new Promise<void>((resolve) => fileServer.listen(0, '127.0.0.1', resolve));
    fileBase = `http://127.0.0.1:${(fileServer.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => fileServer?.close(() => resolve()));
  });

  it('seeded about 1,000 resources in 3 waves with distinct lastUpdated ranges', () => {
    expect(report.totalCurrent).toBeGreaterThan(900);
    expect(report.waves).toHaveLength(3);
    for (let i = 1; i < report.waves.length; i++) {
      const previous = report.waves[i - 1];
      const current = report.waves[i];
      expect(
        Date.parse(current?.firstLastUpdated ?? '') - Date.parse(previous?.lastLastUpdated ?? ''),
      ).toBeGreaterThanOrEqual(1500);
    }
  });

  it('the source counts exactly what was written, right after the writes', async () => {
    for (const type of seededTypes) {
      expect({ type, count: await countOf(sourceUrl, type, `_lastUpdated=ge${since}`) }).toEqual({
        type,
        count: report.types[type]?.current,
      });
    }
  });

  it('exports, downloads, imports and ends with the same per-type counts on both servers', async () => {
    const exportStatus = await kickOff(
      `${sourceUrl}/$export?_type=${seededTypes.join(',')}&_since=${encodeURIComponent(since)}&_outputFormat=${encodeURIComponent('application/fhir+ndjson')}`,
      { method: 'GET' },
    );
    const exported = await pollUntilDone(exportStatus, { timeoutMs: 300_000 });
    expect(exported.status).toBe(200);
    const manifest = JSON.parse(exported.body) as Manifest;
    expect(manifest.error).toEqual([]);

    const exportedPerType: Record<string, number> = {};
    for (const [i, output] of manifest.output.entries()) {
      const res = await fetch(output.url);
      expect(res.status).toBe(200);
      const body = await res.text();
      const lines = body.split('\n').filter((l) => l.length > 0);
      for (const [n, line] of lines.entries()) {
        const resource = JSON.parse(line) as { resourceType: string; meta?: { lastUpdated?: string } };
        expect({ file: output.url, line: n + 1, type: resource.resourceType }).toEqual({
          file: output.url,
          line: n + 1,
          type: output.type,
        });
        expect(Date.parse(resource.meta?.lastUpdated ?? '')).toBeGreaterThanOrEqual(Date.parse(since));
      }
      exportedPerType[output.type] = (exportedPerType[output.type] ?? 0) + lines.length;
      files.set(`/files/${i}.ndjson`, { type: output.type, body });
    }
    const expected = Object.fromEntries(seededTypes.map((t) => [t, report.types[t]?.current]));
    expect(exportedPerType).toEqual(expected);

    const importStart = new Date(Date.now() - 1000).toISOString();
    const parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
        ...[...files.entries()].map(([path, f]) => ({
          name: 'input',
          part: [
            { name: 'type', valueCode: f.type },
            { name: 'url', valueUri: `${fileBase}${path}` },
          ],
        })),
      ],
    };
    const importStatus = await kickOff(`${destinationUrl}/$import`, {
      method: 'POST',
      body: JSON.stringify(parameters),
    });
    const imported = await pollUntilDone(importStatus, { timeoutMs: 300_000 });
    expect({ status: imported.status, body: imported.status === 200 ? '' : imported.body }).toEqual({
      status: 200,
      body: '',
    });
    expect(imported.body).toContain('Bulk Import Report');

    for (const type of seededTypes) {
      const onDestination = await countOf(destinationUrl, type, `_lastUpdated=ge${importStart}`);
      expect({ type, onDestination }).toEqual({ type, onDestination: report.types[type]?.current });
    }
  });

  it('keeps 21-digit decimals (with trailing zeros), numeric ids, unicode, contained resources and meta.source', async () => {
    const numericPatient = report.currentIds.Patient?.find((id) => /^\d+$/.test(id));
    expect(numericPatient).toBeDefined();
    const patient = await getJson<{ name: { family: string }[]; meta: { source?: string } }>(
      `${destinationUrl}/Patient/${numericPatient}`,
    );
    const onSource = await getJson<{ name: { family: string }[] }>(`${sourceUrl}/Patient/${numericPatient}`);
    expect(patient.name).toEqual(onSource.name);
    expect(patient.meta.source).toBe('urn:fhir-migrate:seed-data');

    const obsId = report.currentIds.Observation?.find((id) => id.endsWith('-1-1'));
    const raw = await (
      await fetch(`${destinationUrl}/Observation/${obsId}`, { headers: { accept: 'application/fhir+json' } })
    ).text();
    const rawSource = await (
      await fetch(`${sourceUrl}/Observation/${obsId}`, { headers: { accept: 'application/fhir+json' } })
    ).text();
    const decimalIn = (text: string) => /"value"\s*:\s*(-?[0-9.]+)/.exec(text)?.[1];
    expect(decimalIn(rawSource)).toMatch(/^\d+\.0{19}$/);
    expect(decimalIn(raw)).toBe(decimalIn(rawSource));

    const medId = report.currentIds.MedicationRequest?.[0];
    const med = await getJson<{ contained: { id: string }[]; medicationReference: { reference: string } }>(
      `${destinationUrl}/MedicationRequest/${medId}`,
    );
    expect(med.contained[0]?.id).toBe('med');
    expect(med.medicationReference.reference).toBe('#med');
  });

  it('deleted resources are gone on the source and were not exported to the destination', async () => {
    const deleted = Object.entries(report.deletedIds).flatMap(([type, ids]) =>
      ids.map((id) => `${type}/${id}`),
    );
    expect(deleted.length).toBeGreaterThanOrEqual(2);
    for (const ref of deleted) {
      expect({ ref, source: (await fetch(`${sourceUrl}/${ref}`)).status }).toEqual({ ref, source: 410 });
      expect({ ref, destination: (await fetch(`${destinationUrl}/${ref}`)).status }).toEqual({
        ref,
        destination: 404,
      });
    }
  });

  it('updated resources have history on the source', async () => {
    // The first patient of wave 1 is rewritten in each of the 2 later waves.
    const history = await getJson<{ total: number }>(`${sourceUrl}/Patient/${patientId(seed, 0)}/_history`);
    expect(history.total).toBe(3);
  });
});
