/**
 * The Azure FHIR dialects against request/response FIXTURES written from the documented contract
 * (../shared/notes/azure-contracts.md, read from microsoft/fhir-server): a loopback server plays the
 * service. No Azure FHIR server can run here, so these prove the protocol mapping, not the service.
 */
import { describe, expect, it } from 'vitest';
import type { FhirClient } from '../client.ts';
import { startLoopbackServer, useLoopbackClients } from '../test-support/loopback-server.ts';
import { azureExportUrl, validateAzureExportOptions } from './export-azure.ts';
import { createExportDialect, createImportDialect } from './factory.ts';
import { ahdsImportParameters, ahdsImportReport } from './import-ahds.ts';

const setup = useLoopbackClients();

const blob = 'https://exportacct.blob.core.windows.net';
const window = {
  since: '2026-01-01T00:00:00.000Z',
  till: '2026-02-01T00:00:00.000Z',
  types: ['Patient', 'Observation'],
};

describe('Azure $export dialect (fixtures from the documented contract, not an Azure server)', () => {
  it('kicks off with _since, _till, _type and the Azure parameters, and the documented headers', async () => {
    const { server, client } = await setup((_req, res) =>
      res.writeHead(202, { 'content-location': '/fhir/_operations/export/42' }).end(),
    );
    const dialect = createExportDialect('azure', client, {
      isParallel: true,
      includeHistory: true,
      includeDeleted: true,
      container: 'migration-export',
      maxCount: 5000,
    });
    expect(await dialect.kickOff(window)).toEqual({ statusUrl: `${server.url}/fhir/_operations/export/42` });
    const sent = new URL(server.requests[0]?.url ?? '', server.url);
    expect(sent.pathname).toBe('/fhir/$export');
    expect(Object.fromEntries(sent.searchParams)).toEqual({
      _outputFormat: 'application/fhir+ndjson',
      _type: 'Patient,Observation',
      _since: '2026-01-01T00:00:00.000Z',
      _till: '2026-02-01T00:00:00.000Z',
      _isParallel: 'true',
      includeAssociatedData: '_history,_deleted',
      _container: 'migration-export',
      _maxCount: '5000',
    });
    // Accept must be exactly application/fhir+json; Prefer must include respond-async.
    expect(server.requests[0]?.headers.accept).toBe('application/fhir+json');
    expect(server.requests[0]?.headers.prefer).toBe('respond-async');
  });

  it('polls: 202 without X-Progress is running; 200 gives output[type,url,count] on the storage account', async () => {
    const manifest = {
      transactionTime: '2026-02-01T00:00:05.1234567+00:00',
      request: `${blob}/$export`,
      requiresAccessToken: false,
      output: [
        {
          type: 'Observation',
          url: `${blob}/migration-export/20260201T000005-42/Observation-1-1.ndjson`,
          count: 5000,
        },
        {
          type: 'Observation',
          url: `${blob}/migration-export/20260201T000005-42/Observation-2-1.ndjson`,
          count: 12,
        },
        { type: 'Patient', url: `${blob}/migration-export/20260201T000005-42/Patient-3-1.ndjson`, count: 7 },
      ],
      error: [],
      issues: [],
    };
    let polls = 0;
    const { client, server } = await setup((_req, res) => {
      polls++;
      if (polls === 1) res.writeHead(202).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(manifest));
    });
    const dialect = createExportDialect('azure', client, { allowedFileOrigins: [blob] });
    const statusUrl = `${server.url}/fhir/_operations/export/42`;
    expect(await dialect.poll(statusUrl)).toEqual({ state: 'running' });
    expect(await dialect.poll(statusUrl)).toEqual({
      state: 'completed',
      manifest: {
        transactionTime: manifest.transactionTime,
        requiresAccessToken: false,
        output: manifest.output,
        deleted: [],
        error: [],
      },
    });
  });

  it('a failed job (OperationOutcome with the job status, e.g. 429 from the Cosmos backend) and cancel by DELETE', async () => {
    const { client, server } = await setup((req, res) => {
      if (req.method === 'DELETE') res.writeHead(202).end();
      else
        res.writeHead(400, { 'content-type': 'application/fhir+json' }).end(
          JSON.stringify({
            resourceType: 'OperationOutcome',
            issue: [
              {
                severity: 'error',
                code: 'processing',
                diagnostics: 'The destination container is not accessible.',
              },
            ],
          }),
        );
    });
    const dialect = createExportDialect('azure', client);
    const statusUrl = `${server.url}/fhir/_operations/export/42`;
    expect(await dialect.poll(statusUrl)).toMatchObject({
      state: 'failed',
      reason: expect.stringContaining('The destination container is not accessible.'),
    });
    await dialect.cancel(statusUrl);
    expect(server.requests.at(-1)?.method).toBe('DELETE');
  });

  it('refuses options the service would answer with 400, before any request', () => {
    expect(() => validateAzureExportOptions({ maxCount: 0 })).toThrow(/maxCount/);
    expect(() => validateAzureExportOptions({ maxCount: 10_001 })).toThrow(/maxCount/);
    expect(() => validateAzureExportOptions({ container: 'Bad_Name' })).toThrow(/container/);
    expect(() => validateAzureExportOptions({ anonymizationConfig: 'anon.json' })).toThrow(/needs container/);
    expect(() =>
      azureExportUrl({ resolve: (p: string) => p } as FhirClient, { ...window, till: 'yesterday' }),
    ).toThrow(/till/);
  });
});

describe('AHDS $import dialect (fixtures from the documented contract, not an Azure server)', () => {
  const inputs = [
    { type: 'Patient', url: `${blob}/staging/m1/chunk-000001/Patient-0001.ndjson`, etag: '"0x8DC"' },
    { type: 'Observation', url: `${blob}/staging/m1/chunk-000001/Observation-0002.ndjson` },
  ];

  it('submits IncrementalLoad with input type, url and etag, and returns the operation URL', async () => {
    const { server, client } = await setup((_req, res) =>
      res.writeHead(202, { 'content-location': '/fhir/_operations/import/7' }).end(),
    );
    const dialect = createImportDialect('ahds', client);
    expect(await dialect.submit(inputs)).toEqual({ jobUrl: `${server.url}/fhir/_operations/import/7` });
    const request = server.requests[0];
    expect(request?.headers.prefer).toBe('respond-async');
    expect(request?.headers['content-type']).toContain('application/fhir+json');
    expect(JSON.parse(request?.body ?? '{}')).toEqual({
      resourceType: 'Parameters',
      parameter: [
        { name: 'inputFormat', valueString: 'application/fhir+ndjson' },
        { name: 'mode', valueString: 'IncrementalLoad' },
        {
          name: 'input',
          part: [
            { name: 'type', valueString: 'Patient' },
            { name: 'url', valueUri: inputs[0]?.url },
            { name: 'etag', valueString: '"0x8DC"' },
          ],
        },
        {
          name: 'input',
          part: [
            { name: 'type', valueString: 'Observation' },
            { name: 'url', valueUri: inputs[1]?.url },
          ],
        },
      ],
    });
  });

  it('refuses what the service refuses: SAS URLs, duplicates, SearchParameter, relative URLs', () => {
    expect(() =>
      ahdsImportParameters([{ type: 'Patient', url: `${blob}/c/p.ndjson?sv=1&sig=secret` }]),
    ).toThrow(/query string: AHDS refuses SAS URLs/);
    expect(() =>
      ahdsImportParameters([{ type: 'Patient', url: `${blob}/c/p.ndjson?sig=secret` }]),
    ).not.toThrow(/secret/);
    expect(() =>
      ahdsImportParameters([inputs[1] as (typeof inputs)[number], inputs[1] as (typeof inputs)[number]]),
    ).toThrow(/twice/);
    expect(() => ahdsImportParameters([{ type: 'SearchParameter', url: `${blob}/c/sp.ndjson` }])).toThrow(
      /\$reindex/,
    );
    expect(() => ahdsImportParameters([{ type: 'Patient', url: 'c/p.ndjson' }])).toThrow(/absolute/);
    expect(() => ahdsImportParameters([])).toThrow(/at least one/);
  });

  it('423 Locked (initial import mode) is a retryable failure with a clear reason', async () => {
    const { client } = await setup((_req, res) =>
      res.writeHead(423, { 'content-type': 'application/fhir+json' }).end('{}'),
    );
    await expect(createImportDialect('ahds', client).submit(inputs)).rejects.toMatchObject({
      status: 423,
      retryable: true,
      message: expect.stringContaining('initial import mode'),
    });
  });

  it('polls: 202 running; 200 with output[] and error[] per input URL (partial success); 400 cancelled; 404', async () => {
    const done = {
      transactionTime: '2026-02-01T00:10:00Z',
      request: 'https://ws-fhir.fhir.azurehealthcareapis.com/$import',
      output: [
        { type: 'Patient', count: 7, inputUrl: inputs[0]?.url },
        { type: 'Observation', count: 11, inputUrl: inputs[1]?.url },
      ],
      error: [
        {
          type: 'Observation',
          count: 1,
          inputUrl: inputs[1]?.url,
          url: `${blob}/fhirlogs/Observation7_1.ndjson?sv=2024&sig=abc`,
        },
      ],
    };
    let n = 0;
    const { client, server } = await setup((req, res) => {
      n++;
      if (req.url?.endsWith('/7') && n === 1) res.writeHead(202, { 'retry-after': '30' }).end();
      else if (req.url?.endsWith('/7'))
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(done));
      else if (req.url?.endsWith('/8'))
        res.writeHead(400, { 'content-type': 'application/fhir+json' }).end(
          JSON.stringify({
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'error', code: 'processing', diagnostics: 'Input file Etag not match.' }],
          }),
        );
      else res.writeHead(404).end();
    });
    const dialect = createImportDialect('ahds', client);
    const job = (id: number) => `${server.url}/fhir/_operations/import/${id}`;
    expect(await dialect.poll(job(7))).toEqual({ state: 'running', retryAfterMs: 30_000 });
    const completed = await dialect.poll(job(7));
    expect(completed.state).toBe('completed');
    const report = completed.state === 'completed' ? completed.report : undefined;
    expect(report?.files.map((f) => ({ url: f.url, succeeded: f.succeeded, failed: f.failed }))).toEqual([
      { url: inputs[0]?.url, succeeded: 7, failed: 0 },
      { url: inputs[1]?.url, succeeded: 11, failed: 1 },
    ]);
    // The error file's SAS never reaches the ledger.
    expect(JSON.stringify(report)).not.toContain('sig=abc');
    expect(await dialect.poll(job(8))).toMatchObject({
      state: 'failed',
      reason: expect.stringMatching(/cancelled or its input refused \(HTTP 400\).*Etag not match/),
    });
    expect(await dialect.poll(job(9))).toMatchObject({ state: 'failed', reason: 'import job not found' });
  });

  it('refuses a completed reply that is not the documented shape', () => {
    expect(() => ahdsImportReport('{"output":[{"count":"many"}]}')).toThrow(/documented completed shape/);
  });

  it('reads an error file (OperationOutcome lines naming line and offset) from the storage account with a Blob Storage token', async () => {
    const errorLine = (line: number, text: string) =>
      JSON.stringify({
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'error',
            details: { text },
            diagnostics: `Failed to process resource at line: ${line} with stream start offset: ${line * 812}`,
          },
        ],
      });
    const storage = await startLoopbackServer((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/x-ndjson' })
        .end(
          `${errorLine(3, "Given conditional reference 'Patient?identifier=x' does not resolve to a resource.")}\n${errorLine(7, 'Version conflict')}\nnot json\n`,
        ),
    );
    const { client } = await setup((_req, res) => res.writeHead(500).end());
    const dialect = createImportDialect('ahds', client, {
      storageAuth: {
        origins: [storage.url],
        auth: { headers: async () => ({ authorization: 'Bearer storage-token' }) },
      },
    });
    try {
      const report = ahdsImportReport(
        JSON.stringify({
          output: [{ type: 'Observation', count: 8, inputUrl: inputs[1]?.url }],
          error: [
            {
              type: 'Observation',
              count: 3,
              inputUrl: inputs[1]?.url,
              url: `${storage.url}/fhirlogs/Observation7_1.ndjson?sig=s3cret`,
            },
          ],
        }),
      );
      const errorFiles = report.files[0]?.errorFiles ?? [];
      expect(errorFiles).toEqual([`${storage.url}/fhirlogs/Observation7_1.ndjson?sig=s3cret`]);
      expect(JSON.stringify(report)).not.toContain('s3cret');
      expect(await dialect.readErrors?.(errorFiles[0] ?? '')).toEqual([
        {
          line: 3,
          reason: "Given conditional reference 'Patient?identifier=x' does not resolve to a resource.",
        },
        { line: 7, reason: 'Version conflict' },
        { reason: 'unreadable error line: not json' },
      ]);
      expect(storage.requests[0]?.headers.authorization).toBe('Bearer storage-token');
      expect(storage.requests[0]?.headers['x-ms-version']).toBe('2021-08-06');
      await expect(dialect.readErrors?.('http://169.254.169.254/fhirlogs/x.ndjson')).rejects.toThrow();
    } finally {
      await storage.close();
    }
  });
});
