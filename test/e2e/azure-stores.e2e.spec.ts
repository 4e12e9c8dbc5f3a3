/**
 * The pipeline on the Azure stores, selected by configuration: the ledger in Cosmos DB (the cosmosdb-server
 * emulator) and staging in Blob Storage (Azurite, read-only SAS URLs handed to HAPI's $import), with the
 * real HAPI servers and the real CLI. Proves that `run`, `status` and `dlq` all open the configured stores,
 * not the state file. (The bus stays embedded here: no Service Bus can run on this machine.)
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, inject, it } from 'vitest';
import type {} from '../harness/azurite.ts';
import type {} from '../harness/cosmos-emulator.ts';
import { runCli } from '../harness/fhir-migrate.ts';
import { reconcile } from '../harness/reconcile.ts';
import { migrationArgs, type StatusJson, seedScenario } from './scenario.ts';

const { sourceUrl, destinationUrl } = inject('fhirServers');
const azurite = inject('azurite');
const cosmos = inject('cosmosEmulator');

describe('migration on the Azure stores (Cosmos DB emulator ledger, Azurite Blob staging)', () => {
  it('migrates every resource with the ledger in Cosmos DB and the files in Blob Storage; status and dlq read them', async () => {
    const s = await seedScenario(sourceUrl, { patients: 12, waves: 2, waveGapMs: 3000, bundleSize: 25 });
    const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const database = `fm-e2e-${suffix}`;
    const containerName = `fm-e2e-${suffix}`;
    const dir = mkdtempSync(join(tmpdir(), 'fm-azure-stores-'));
    const configFile = join(dir, 'azure.yaml');
    // Structure in YAML, as a user writes it; the secrets come from the environment.
    writeFileSync(
      configFile,
      [
        'ledger: cosmos',
        'cosmos:',
        `  endpoint: ${cosmos.endpoint}`,
        `  database: ${database}`,
        'staging: blob',
        'blob:',
        `  container: ${containerName}`,
        '  urls: sas',
        '  createContainer: true',
        '',
      ].join('\n'),
    );
    const env = {
      FHIR_MIGRATE_COSMOS_KEY: cosmos.key,
      FHIR_MIGRATE_BLOB_CONNECTION_STRING: azurite.connectionString,
    };
    const run = await runCli(
      [
        'run',
        '--until-caught-up',
        '--config',
        configFile,
        ...migrationArgs(s, sourceUrl, destinationUrl, ['--chunk-duration', '2s', '--chunk-limit', '60']),
      ],
      env,
    );
    console.log(
      `[e2e azure stores] ${s.report.totalCurrent} resources, run --until-caught-up ${run.seconds.toFixed(1)}s`,
    );
    expect(run.code, run.stderr.slice(-3000)).toBe(0);

    // status with the configuration reads the Cosmos ledger …
    const status = await runCli(['status', '--config', configFile, '--state', s.state, '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    const summary = JSON.parse(status.stdout) as StatusJson;
    expect(summary.halted).toEqual([]);
    expect(summary.chunks.byStatus.verified).toBeGreaterThanOrEqual(2);
    expect(summary.resources).toMatchObject({
      exported: s.report.totalCurrent,
      imported: s.report.totalCurrent,
      failed: 0,
    });
    // … while the state file holds the bus alone: its ledger is empty.
    const fileOnly = await runCli(['status', '--state', s.state, '--json']);
    expect(fileOnly.code, fileOnly.stderr).toBe(0);
    expect((JSON.parse(fileOnly.stdout) as StatusJson).chunks.total).toBe(0);
    const dlq = await runCli(['dlq', 'list', '--config', configFile, '--state', s.state, '--json'], env);
    expect(dlq.code, dlq.stderr).toBe(0);
    expect(JSON.parse(dlq.stdout)).toEqual([]);

    // The ledger's events are documents in the Cosmos container, partitioned by migration.
    const client = new CosmosClient({
      endpoint: cosmos.endpoint,
      key: cosmos.key,
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    try {
      const { resources } = await client
        .database(database)
        .container('ledger')
        .items.query<{ migrationId: string }>('SELECT c.migrationId FROM c')
        .fetchAll();
      expect(resources.length).toBeGreaterThan(summary.chunks.total);
      expect(new Set(resources.map((r) => r.migrationId))).toEqual(new Set(['default']));
    } finally {
      client.dispose();
    }
    // Every verified chunk's files were staged as blobs under <migration>/<chunk>/.
    const blobs: string[] = [];
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      containerName,
    );
    for await (const blob of container.listBlobsFlat()) blobs.push(blob.name);
    const withData = summary.list.filter((c) => c.status === 'verified' && c.staged > 0);
    for (const chunk of withData)
      expect(
        blobs.some((name) => name.startsWith(`default/${chunk.chunkId}/`)),
        chunk.chunkId,
      ).toBe(true);

    const result = await reconcile(sourceUrl, destinationUrl, s.report.currentIds);
    expect(result.checked).toBe(s.report.totalCurrent);
    expect({ missing: result.missing, differing: result.differing }).toEqual({ missing: [], differing: [] });
  });
});
