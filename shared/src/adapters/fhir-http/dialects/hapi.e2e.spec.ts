/**
 * The export and import dialects against the real HAPI FHIR test servers (source and destination shared with
 * other suites): only resources with this run's id prefix are written, imported, deleted or asserted on.
 */
import { createServer, type Server } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createFhirClient, type FhirClient } from '../client.ts';
import { checkResourceLine, readNdjsonLines } from '../ndjson.ts';
import { kickOffExport, pollExport } from './export-common.ts';
import { createExportDialect, createImportDialect } from './factory.ts';
import { createRestImporter } from './import-rest.ts';
import type { ExportDialect, ExportManifest, ExportPoll, ImportPoll } from './types.ts';

const { sourceUrl, destinationUrl } = inject('fhirServers');
const run = `fm${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const decimal21 = '37.0000000000000000000';
const decimal21b = '123.456789012345678901';

let source: FhirClient;
let destination: FhirClient;
let fileServer: Server;
let fileBase: string;
const files = new Map<string, string>();
/** lastUpdated of each resource written to the source, by id. */
const written = new Map<string, string>();

async function put(client: FhirClient, type: string, id: string, body: string): Promise<string> {
  const res = await client.json({
    method: 'PUT',
    url: `${type}/${id}`,
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
    body,
  });
  const meta =
    typeof res.body === 'object' && res.body !== null && 'meta' in res.body ? res.body.meta : undefined;
  const lastUpdated =
    typeof meta === 'object' && meta !== null && 'lastUpdated' in meta ? meta.lastUpdated : undefined;
  if (typeof lastUpdated !== 'string') throw new Error(`PUT ${type}/${id} returned no lastUpdated`);
  return lastUpdated;
}

async function untilDone<T extends ExportPoll | ImportPoll>(
  poll: () => Promise<T>,
): Promise<Exclude<T, { state: 'running' }>> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const state = await poll();
    if (state.state !== 'running') return state as Exclude<T, { state: 'running' }>;
    await sleep(Math.min(state.retryAfterMs ?? 300, 300)); // HAPI always says 120 s
  }
  throw new Error('job still running after 180 s');
}

/** Downloads every output file and returns its lines that belong to this run, per type. */
async function ourLines(dialect: ExportDialect, manifest: ExportManifest): Promise<Map<string, string[]>> {
  const byType = new Map<string, string[]>();
  for (const output of manifest.output) {
    const body = await dialect.openFile(output.url, { requiresAccessToken: manifest.requiresAccessToken });
    for await (const { text } of readNdjsonLines(body)) {
      if (!text.includes(`"id":"${run}-`)) continue;
      byType.set(output.type, [...(byType.get(output.type) ?? []), text]);
    }
  }
  return byType;
}

const idsOf = (lines: Map<string, string[]>) =>
  [...lines.values()]
    .flat()
    .map((l) => /"id":"([^"]+)"/.exec(l)?.[1])
    .sort();

const decimalIn = (text: string) => /"value"\s*:\s*(-?[0-9.]+)/.exec(text)?.[1];

async function rawRead(client: FhirClient, ref: string): Promise<{ status: number; body: string }> {
  const res = await client.text({
    url: ref,
    headers: { accept: 'application/fhir+json' },
    throwOnError: false,
  });
  return { status: res.status, body: res.body };
}

beforeAll(async () => {
  source = createFhirClient({ baseUrl: sourceUrl, retry: { maxAttempts: 3, baseDelayMs: 200 } });
  destination = createFhirClient({ baseUrl: destinationUrl, retry: { maxAttempts: 3, baseDelayMs: 200 } });
  fileServer = createServer((req, res) => {
    const body = files.get(req.url ?? '');
    if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'application/fhir+ndjson' }).end(body);
  });
  await new Promise<void>((resolve) => fileServer.listen(0, '127.0.0.1', resolve));
  const address = fileServer.address();
  if (address === null || typeof address === 'string') throw new Error('file server has no port');
  fileBase = `http://127.0.0.1:${address.port}`;

  // p1, p2, o1 inside the window; p3 written last: its lastUpdated becomes `till`.
  written.set(
    `${run}-p1`,
    await put(
      source,
      'Patient',
      `${run}-p1`,
      `{"resourceType":"Patient","id":"${run}-p1","name":[{"family":"Zoë"}]}`,
    ),
  );
  await sleep(20);
  written.set(
    `${run}-p2`,
    await put(source, 'Patient', `${run}-p2`, `{"resourceType":"Patient","id":"${run}-p2"}`),
  );
  written.set(
    `${run}-o1`,
    await put(
      source,
      'Observation',
      `${run}-o1`,
      `{"resourceType":"Observation","id":"${run}-o1","status":"final","code":{"text":"temp"},"subject":{"reference":"Patient/${run}-p1"},"valueQuantity":{"value":${decimal21},"unit":"Cel"}}`,
    ),
  );
  await sleep(20);
  written.set(
    `${run}-p3`,
    await put(source, 'Patient', `${run}-p3`, `{"resourceType":"Patient","id":"${run}-p3"}`),
  );
});

afterAll(async () => {
  await new Promise<void>((resolve) => (fileServer ? fileServer.close(() => resolve()) : resolve()));
  await source?.close();
  await destination?.close();
});

describe('HAPI $export dialects on the real source server', () => {
  let hapiManifest: ExportManifest;
  let exported: Map<string, string[]>;

  it('hapi: exports exactly [since, till) — a resource written at exactly till is left out', async () => {
    const dialect = createExportDialect('hapi', source);
    const since = written.get(`${run}-p1`) ?? '';
    const till = written.get(`${run}-p3`) ?? '';
    const { statusUrl } = await dialect.kickOff({ since, till, types: ['Patient', 'Observation'] });
    expect(statusUrl).toMatch(/\$export-poll-status\?_jobId=/);
    const done = await untilDone(() => dialect.poll(statusUrl));
    expect(done.state).toBe('completed');
    if (done.state !== 'completed') return;
    hapiManifest = done.manifest;
    expect(hapiManifest).toMatchObject({ requiresAccessToken: true, deleted: [], error: [] });
    for (const output of hapiManifest.output)
      expect(output.url.startsWith(`${source.baseUrl}/Binary/`)).toBe(true);

    exported = await ourLines(dialect, hapiManifest);
    expect(idsOf(exported)).toEqual([`${run}-o1`, `${run}-p1`, `${run}-p2`]);
    for (const [type, lines] of exported) {
      for (const text of lines) {
        expect(checkResourceLine(text, { expectedType: type, since, till })).toMatchObject({
          ok: true,
          inWindow: true,
        });
      }
    }
    // The NDJSON is raw bytes from the Binary: the 21-digit decimal arrives as written.
    expect(decimalIn(exported.get('Observation')?.[0] ?? '')).toBe(decimal21);
  });

  it("HAPI's own _until is inclusive (why the hapi dialect sends till − 1 ms)", async () => {
    const since = written.get(`${run}-p1`) ?? '';
    const till = written.get(`${run}-p3`) ?? '';
    const query = new URLSearchParams({
      _outputFormat: 'application/fhir+ndjson',
      _type: 'Patient',
      _since: since,
      _until: till,
    });
    const { statusUrl } = await kickOffExport(source, `$export?${query}`);
    const done = await untilDone(() => pollExport(source, statusUrl, [source.origin]));
    expect(done.state).toBe('completed');
    if (done.state !== 'completed') return;
    const lines = await ourLines(createExportDialect('hapi', source), done.manifest);
    expect(idsOf(lines)).toEqual([`${run}-p1`, `${run}-p2`, `${run}-p3`]);
  });

  it('bulkdata: HAPI ignores the _typeFilter end bound when _since is sent; the line check flags the extra resource', async () => {
    const dialect = createExportDialect('bulkdata', source);
    const since = written.get(`${run}-p1`) ?? '';
    const till = written.get(`${run}-p3`) ?? '';
    const { statusUrl } = await dialect.kickOff({ since, till, types: ['Patient', 'Observation'] });
    const done = await untilDone(() => dialect.poll(statusUrl));
    expect(done.state).toBe('completed');
    if (done.state !== 'completed') return;
    const lines = await ourLines(dialect, done.manifest);
    expect(idsOf(lines)).toEqual([`${run}-o1`, `${run}-p1`, `${run}-p2`, `${run}-p3`]);
    const p3 = (lines.get('Patient') ?? []).find((l) => l.includes(`"id":"${run}-p3"`)) ?? '';
    expect(checkResourceLine(p3, { expectedType: 'Patient', since, till })).toMatchObject({
      ok: true,
      inWindow: false,
    });
  });

  it('bulkdata with boundsInTypeFilter: both bounds in _typeFilter give HAPI exactly [since, till)', async () => {
    const dialect = createExportDialect('bulkdata', source, { boundsInTypeFilter: true });
    const since = written.get(`${run}-p1`) ?? '';
    const till = written.get(`${run}-p3`) ?? '';
    const { statusUrl } = await dialect.kickOff({ since, till, types: ['Patient', 'Observation'] });
    const done = await untilDone(() => dialect.poll(statusUrl));
    expect(done.state).toBe('completed');
    if (done.state !== 'completed') return;
    expect(idsOf(await ourLines(dialect, done.manifest))).toEqual([`${run}-o1`, `${run}-p1`, `${run}-p2`]);
  });

  it('poll of an unknown job is failed "job not found"; cancel of it is harmless', async () => {
    const dialect = createExportDialect('hapi', source);
    const statusUrl = `${source.baseUrl}/$export-poll-status?_jobId=${run}-no-such-job`;
    // HAPI: 404 "HAPI-2040: Unknown instance ID" for both the poll and the DELETE.
    expect(await dialect.poll(statusUrl)).toMatchObject({ state: 'failed', reason: 'job not found' });
    await expect(dialect.cancel(statusUrl)).resolves.toBeUndefined();
  });

  it('cancel of a finished export job is accepted (HAPI answers 404 "already cancelled or has completed")', async () => {
    const dialect = createExportDialect('hapi', source);
    const { statusUrl } = await dialect.kickOff({
      since: written.get(`${run}-p3`) ?? '',
      till: new Date(Date.parse(written.get(`${run}-p3`) ?? '') + 1).toISOString(),
      types: ['Patient'],
    });
    await untilDone(() => dialect.poll(statusUrl));
    await expect(dialect.cancel(statusUrl)).resolves.toBeUndefined();
  });

  it('openFile refuses a manifest URL on another origin', async () => {
    const dialect = createExportDialect('hapi', source);
    await expect(dialect.openFile(`${destinationUrl}/Binary/whatever`)).rejects.toThrow(/refusing to fetch/);
  });

  describe('HAPI $import into the real destination server', () => {
    it('imports the exported files served over HTTP and reports per-file counts', async () => {
      files.set(`/${run}/Patient.ndjson`, `${(exported.get('Patient') ?? []).join('\n')}\n`);
      files.set(`/${run}/Observation.ndjson`, `${(exported.get('Observation') ?? []).join('\n')}\n`);
      const dialect = createImportDialect('hapi', destination, { maxBatchResourceCount: 100 });
      const { jobUrl } = await dialect.submit([
        { type: 'Observation', url: `${fileBase}/${run}/Observation.ndjson` },
        { type: 'Patient', url: `${fileBase}/${run}/Patient.ndjson` },
      ]);
      expect(jobUrl).toMatch(/\$import-poll-status\?_jobId=/);
      const done = await untilDone(() => dialect.poll(jobUrl));
      expect(done.state).toBe('completed');
      if (done.state !== 'completed') return;
      const byUrl = Object.fromEntries(
        done.report.files.map((f) => [f.url, { succeeded: f.succeeded, failed: f.failed }]),
      );
      expect(byUrl).toEqual({
        [`${fileBase}/${run}/Observation.ndjson`]: { succeeded: 1, failed: 0 },
        [`${fileBase}/${run}/Patient.ndjson`]: { succeeded: 2, failed: 0 },
      });
      expect(done.report.raw).toMatch(/^Bulk Import Report/);

      const observation = await rawRead(destination, `Observation/${run}-o1`);
      expect(observation.status).toBe(200);
      expect(decimalIn(observation.body)).toBe(decimal21);
      const patient = await rawRead(destination, `Patient/${run}-p1`);
      expect(JSON.parse(patient.body).name).toEqual([{ family: 'Zoë' }]);
      expect((await rawRead(destination, `Patient/${run}-p3`)).status).toBe(404);
    });

    it('reports a job that fails on a resource as failed, with the per-file report', async () => {
      files.set(
        `/${run}/bad.ndjson`,
        `{"resourceType":"Observation","id":"${run}-bad","status":"final","code":{"text":"x"},"subject":{"reference":"Foo/1"}}\n{"resourceType":"Observation","id":"${run}-good","status":"final","code":{"text":"y"}}\n`,
      );
      const dialect = createImportDialect('hapi', destination);
      const { jobUrl } = await dialect.submit([
        { type: 'Observation', url: `${fileBase}/${run}/bad.ndjson` },
      ]);
      const done = await untilDone(() => dialect.poll(jobUrl));
      expect(done).toMatchObject({
        state: 'failed',
        reason: expect.stringMatching(/FAILED state.*HAPI-2673/),
      });
      if (done.state !== 'failed') return;
      expect(done.report?.files).toEqual([
        {
          url: `${fileBase}/${run}/bad.ndjson`,
          outcomes: { FAILURE: 1, SUCCESSFUL_UPDATE_AS_CREATE: 1 },
          succeeded: 1,
          failed: 1,
          errors: [
            expect.stringMatching(/^HAPI-0931: Invalid reference found at path 'Observation.subject'/),
          ],
        },
      ]);
      // HAPI stores the good resources of a failed job.
      expect((await rawRead(destination, `Observation/${run}-good`)).status).toBe(200);
    });
  });
});

describe('REST importer on the real destination server', () => {
  it('PUTs a file by batch, records rejected lines with line number and reason, keeps 21-digit decimals', async () => {
    const obs = (id: string, extra: string) =>
      `{"resourceType":"Observation","id":"${run}-${id}","meta":{"lastUpdated":"2026-01-01T00:00:00.000+00:00"},"status":"final","code":{"text":"t"}${extra}}`;
    const text = [
      obs('r1', `,"valueQuantity":{"value":${decimal21},"unit":"Cel"}`),
      obs('r2', ',"subject":{"reference":"Foo/1"}'), // refused by the destination for this entry only (422)
      obs('r3', ',"effectiveDateTime":"not-a-date"'), // unparsable: HAPI rejects the whole Bundle (400)
      obs('r4', `,"valueQuantity":{"value":${decimal21b}}`),
      '{"resourceType":"Observation","id":', // not JSON
      obs('r6', ''),
    ].join('\r\n');
    const importer = createRestImporter(destination, { bundleSize: 3, concurrency: 2 });
    const result = await importer.applyFile(
      'Observation',
      readNdjsonLines(Readable.from([Buffer.from(text, 'utf8')])),
    );

    expect(result.imported).toBe(3);
    expect(result.failed.map(({ line, id, status }) => ({ line, id, status }))).toEqual([
      { line: 2, id: `${run}-r2`, status: 422 },
      { line: 3, id: `${run}-r3`, status: 400 },
      { line: 5, id: undefined, status: undefined },
    ]);
    expect(result.failed[0]?.reason).toMatch(
      /HAPI-0931: Invalid reference found at path 'Observation.subject'/,
    );
    expect(result.failed[1]?.reason).toMatch(/HAPI-1821: \[element="effectiveDateTime"\]/);
    expect(result.failed[2]?.reason).toMatch(/^invalid-json/);

    const r1 = await rawRead(destination, `Observation/${run}-r1`);
    expect(decimalIn(r1.body)).toBe(decimal21);
    const r4 = await rawRead(destination, `Observation/${run}-r4`);
    expect(decimalIn(r4.body)).toBe(decimal21b);
    expect((await rawRead(destination, `Observation/${run}-r2`)).status).toBe(404);
    expect((await rawRead(destination, `Observation/${run}-r6`)).status).toBe(200);
  });

  it('re-applying the same file is harmless (PUT with the same content makes no new version)', async () => {
    const line = `{"resourceType":"Patient","id":"${run}-same","active":true}`;
    const importer = createRestImporter(destination);
    const apply = () => importer.applyFile('Patient', readNdjsonLines(Readable.from([Buffer.from(line)])));
    expect(await apply()).toEqual({ imported: 1, failed: [] });
    expect(await apply()).toEqual({ imported: 1, failed: [] });
    const read = await rawRead(destination, `Patient/${run}-same`);
    expect(JSON.parse(read.body).meta.versionId).toBe('1');
  });

  it('applies deletes; already-missing resources count as deleted', async () => {
    const importer = createRestImporter(destination);
    const result = await importer.applyDeletes([
      { type: 'Observation', id: `${run}-r1` },
      { type: 'Observation', id: `${run}-r4` },
      { type: 'Observation', id: `${run}-never-existed` },
    ]);
    expect(result).toEqual({ deleted: 3, failed: [] });
    expect((await rawRead(destination, `Observation/${run}-r1`)).status).toBe(410);
    const again = await importer.applyDeletes([{ type: 'Observation', id: `${run}-r1` }]);
    expect(again).toEqual({ deleted: 1, failed: [] });
  });
});
