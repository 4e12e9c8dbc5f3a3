import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadStoresConfig } from './load.ts';

const base = { FHIR_MIGRATE_SOURCE_URL: 'http://src/fhir/', FHIR_MIGRATE_DESTINATION_URL: 'http://dst/fhir' };

function yamlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fm-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  return file;
}

describe('configuration', () => {
  it('applies defaults', () => {
    const { config } = loadConfig({ env: base });
    expect(config).toMatchObject({
      migrationId: 'default',
      source: { url: 'http://src/fhir', auth: { type: 'none' }, exportDialect: 'hapi' },
      destination: { url: 'http://dst/fhir', importDialect: 'hapi' },
      chunkDuration: 30 * 86_400_000,
      safetyLag: 60_000,
      pollInterval: 300_000,
      maxConcurrentImports: 5,
      exportAhead: 1,
      resourceTypes: [],
    });
  });

  it('layers YAML < env < flags', () => {
    const file = yamlFile(
      'chunkDuration: 7d\nchunkLimit: 10\nsource:\n  url: http://yaml/fhir\ndestination:\n  url: http://yaml-dst/fhir\n',
    );
    const { config } = loadConfig({
      configFile: file,
      env: { FHIR_MIGRATE_CHUNK_LIMIT: '20', FHIR_MIGRATE_CHUNK_DURATION: '12h' },
      flags: [{ path: ['chunkDuration'], value: '5m', flag: '--chunk-duration' }],
    });
    expect(config.chunkLimit).toBe(20);
    expect(config.chunkDuration).toBe(300_000);
    expect(config.source.url).toBe('http://yaml/fhir');
  });

  it('reads every stable FHIR_MIGRATE_* name', () => {
    const { config } = loadConfig({
      env: {
        ...base,
        FHIR_MIGRATE_CHUNK_DURATION: '2s',
        FHIR_MIGRATE_CHUNK_LIMIT: '50',
        FHIR_MIGRATE_SAFETY_LAG: '1s',
        FHIR_MIGRATE_POLL_INTERVAL: '3s',
        FHIR_MIGRATE_START_DATE: '2025-01-01T00:00:00Z',
        FHIR_MIGRATE_RESOURCE_TYPES: 'Patient, Observation',
        FHIR_MIGRATE_EXPORT_DIALECT: 'bulkdata',
        FHIR_MIGRATE_IMPORT_DIALECT: 'rest',
        FHIR_MIGRATE_MAX_CONCURRENT_IMPORTS: '2',
        FHIR_MIGRATE_DEEP_CHECK_COUNT: '0',
      },
    });
    expect(config).toMatchObject({
      chunkDuration: 2000,
      chunkLimit: 50,
      safetyLag: 1000,
      pollInterval: 3000,
      startDate: '2025-01-01T00:00:00Z',
      resourceTypes: ['Patient', 'Observation'],
      source: { exportDialect: 'bulkdata' },
      destination: { importDialect: 'rest' },
      maxConcurrentImports: 2,
      deepCheckCount: 0,
    });
  });

  it("accepts the seed tool's AZURE_* settings, and reports the inactive ones", () => {
    const { config, warnings } = loadConfig({
      env: {
        AZURE_SourceUri: 'https://old.azurehealthcareapis.com',
        AZURE_DestinationUri: 'https://ws-fhir.fhir.azurehealthcareapis.com',
        AZURE_ExportChunkTime: '6',
        AZURE_ExportChunkDuration: 'Hours',
        AZURE_ChunkLimit: '5000',
        AZURE_StartDate: '2024-03-01',
        AZURE_ResourceTypes: 'Patient,Encounter',
        AZURE_DeepCheckCount: '3',
        AZURE_IsParallel: 'true',
      },
    });
    expect(config).toMatchObject({
      chunkDuration: 6 * 3_600_000,
      chunkLimit: 5000,
      startDate: '2024-03-01T00:00:00Z',
      resourceTypes: ['Patient', 'Encounter'],
      deepCheckCount: 3,
    });
    expect(warnings).toEqual([
      expect.stringMatching(/^AZURE_IsParallel=true has no effect: only exportDialect azure/),
    ]);
  });

  it("sends the seed tool's export settings with the azure dialect, and warns about nothing", () => {
    const { config, warnings } = loadConfig({
      env: {
        AZURE_SourceUri: 'https://old.azurehealthcareapis.com',
        AZURE_DestinationUri: 'https://ws-fhir.fhir.azurehealthcareapis.com',
        FHIR_MIGRATE_EXPORT_DIALECT: 'azure',
        FHIR_MIGRATE_IMPORT_DIALECT: 'ahds',
        FHIR_MIGRATE_STAGING: 'blob',
        FHIR_MIGRATE_BLOB_ACCOUNT_URL: 'https://stage.blob.core.windows.net',
        AZURE_IsParallel: 'False',
        AZURE_ExportWithHistory: 'True',
        AZURE_ExportWithDelete: 'false',
      },
    });
    expect(config.source.azureExport).toMatchObject({
      isParallel: false,
      includeHistory: true,
      includeDeleted: false,
    });
    expect(warnings).toEqual([]);
  });

  it('selects the Azure stores and credential from the environment, as a Container App gets them', () => {
    const { config } = loadConfig({
      env: {
        FHIR_MIGRATE_SOURCE_URL: 'https://old.azurehealthcareapis.com',
        FHIR_MIGRATE_DESTINATION_URL: 'https://ws-fhir.fhir.azurehealthcareapis.com',
        FHIR_MIGRATE_SOURCE_AUTH: 'azure',
        FHIR_MIGRATE_DESTINATION_AUTH: 'azure',
        FHIR_MIGRATE_EXPORT_DIALECT: 'azure',
        FHIR_MIGRATE_IMPORT_DIALECT: 'ahds',
        FHIR_MIGRATE_LEDGER: 'cosmos',
        FHIR_MIGRATE_COSMOS_ENDPOINT: 'https://ledger.documents.azure.com:443/',
        FHIR_MIGRATE_BUS: 'servicebus',
        FHIR_MIGRATE_SERVICEBUS_NAMESPACE: 'mig.servicebus.windows.net',
        FHIR_MIGRATE_STAGING: 'blob',
        FHIR_MIGRATE_BLOB_ACCOUNT_URL: 'https://stage.blob.core.windows.net',
        FHIR_MIGRATE_AZURE_CREDENTIAL: 'managed-identity',
        AZURE_CLIENT_ID: '00000000-0000-0000-0000-0000000000aa',
      },
    });
    expect(config).toMatchObject({
      source: { auth: { type: 'azure' }, exportDialect: 'azure' },
      destination: { auth: { type: 'azure' }, importDialect: 'ahds' },
      ledger: 'cosmos',
      cosmos: {
        endpoint: 'https://ledger.documents.azure.com:443',
        database: 'fhir-migrate',
        container: 'ledger',
      },
      bus: 'servicebus',
      serviceBus: { namespace: 'mig.servicebus.windows.net', manageTopology: false },
      staging: 'blob',
      blob: { accountUrl: 'https://stage.blob.core.windows.net', container: 'staging' },
      azure: { credential: 'managed-identity', clientId: '00000000-0000-0000-0000-0000000000aa' },
    });
  });

  it('refuses an Azure store without its settings, naming what is missing and hiding secrets', () => {
    const base = { FHIR_MIGRATE_SOURCE_URL: 'http://a', FHIR_MIGRATE_DESTINATION_URL: 'http://b' };
    const attempt = (env: Record<string, string>) => {
      try {
        loadConfig({ env: { ...base, ...env } });
      } catch (err) {
        return (err as ConfigError).problems;
      }
      throw new Error('expected a ConfigError');
    };
    expect(attempt({ FHIR_MIGRATE_LEDGER: 'cosmos' })).toEqual([
      expect.stringMatching(/^cosmos\.endpoint .*ledger cosmos needs cosmos\.endpoint/),
    ]);
    expect(attempt({ FHIR_MIGRATE_BUS: 'servicebus' })).toEqual([
      expect.stringMatching(
        /^serviceBus\.namespace .*needs serviceBus\.namespace or serviceBus\.connectionString/,
      ),
    ]);
    expect(attempt({ FHIR_MIGRATE_IMPORT_DIALECT: 'ahds' })).toEqual([
      expect.stringMatching(/^staging .*importDialect ahds reads its files from Blob Storage/),
    ]);
    const secret = 'Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=TOPSECRETKEY';
    const problems = attempt({
      FHIR_MIGRATE_SERVICEBUS_CONNECTION_STRING: secret,
      FHIR_MIGRATE_BUS: 'queue',
    });
    expect(problems.join('\n')).toMatch(/^bus from env FHIR_MIGRATE_BUS = "queue"/);
    expect(problems.join('\n')).not.toContain('TOPSECRETKEY');
    expect(
      attempt({ FHIR_MIGRATE_AZURE_CREDENTIAL: 'client-secret', AZURE_CLIENT_SECRET: 'TOPSECRET' }).join(
        '\n',
      ),
    ).toMatch(/azure\.tenantId .*client-secret needs tenantId/);
  });

  it('refuses Azure exports with history or soft-deleted versions unless AHDS imports them', () => {
    const env = {
      FHIR_MIGRATE_SOURCE_URL: 'https://old.azurehealthcareapis.com',
      FHIR_MIGRATE_DESTINATION_URL: 'https://hapi.example/fhir',
      FHIR_MIGRATE_EXPORT_DIALECT: 'azure',
      FHIR_MIGRATE_IMPORT_DIALECT: 'rest',
    };
    expect(() => loadConfig({ env })).toThrow(
      /only importDialect ahds carries history and soft-deleted versions/,
    );
    const { config } = loadConfig({
      env: { ...env, AZURE_ExportWithHistory: 'false', AZURE_ExportWithDelete: 'false' },
    });
    expect(config.source.azureExport).toMatchObject({ includeHistory: false, includeDeleted: false });
  });

  it('loads the store settings alone for commands that need no FHIR server', () => {
    const { config } = loadStoresConfig({
      env: {
        FHIR_MIGRATE_LEDGER: 'cosmos',
        FHIR_MIGRATE_COSMOS_ENDPOINT: 'https://l.documents.azure.com',
        FHIR_MIGRATE_COSMOS_KEY: 'k',
      },
    });
    expect(config).toMatchObject({
      migrationId: 'default',
      ledger: 'cosmos',
      bus: 'sqlite',
      state: 'fhir-migrate.sqlite',
    });
    expect(() => loadStoresConfig({ env: { FHIR_MIGRATE_BUS: 'servicebus' } })).toThrow(ConfigError);
  });

  it('warns about unknown FHIR_MIGRATE_* variables (a typo must not pass unnoticed)', () => {
    const { warnings } = loadConfig({ env: { ...base, FHIR_MIGRATE_CHUNK_DURATON: '1d' } });
    expect(warnings[0]).toMatch(/FHIR_MIGRATE_CHUNK_DURATON is not a fhir-migrate setting/);
  });

  it('fails fast naming the key, its origin, the value and what was expected', () => {
    const run = () =>
      loadConfig({
        env: {
          ...base,
          FHIR_MIGRATE_CHUNK_DURATION: '30 days',
          FHIR_MIGRATE_CHUNK_LIMIT: 'lots',
          FHIR_MIGRATE_IMPORT_DIALECT: 'ftp',
        },
      });
    expect(run).toThrow(ConfigError);
    try {
      run();
    } catch (err) {
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toContain(
        'chunkDuration from env FHIR_MIGRATE_CHUNK_DURATION = "30 days": expected a duration such as 30d',
      );
      expect(problems).toMatch(/chunkLimit from env FHIR_MIGRATE_CHUNK_LIMIT = "lots": .*number/);
      expect(problems).toMatch(/destination.importDialect from env FHIR_MIGRATE_IMPORT_DIALECT = "ftp": /);
    }
  });

  it('names a missing required setting', () => {
    expect(() => loadConfig({ env: {} })).toThrow(/source.* = \(not set\)/);
  });

  it('never shows a secret in an error', () => {
    try {
      loadConfig({
        configFile: yamlFile(
          'source:\n  url: http://s/fhir\n  auth:\n    type: basic\n    password: hunter2\ndestination:\n  url: http://d/fhir\n',
        ),
      });
      expect.unreachable();
    } catch (err) {
      expect(String((err as Error).message)).not.toContain('hunter2');
      expect((err as Error).message).toContain('source.auth');
    }
  });

  it('refuses unknown keys in YAML and unreadable files', () => {
    expect(() => loadConfig({ env: base, configFile: yamlFile('chunkSize: 10\n') })).toThrow(
      /unknown setting\(s\): chunkSize/,
    );
    expect(() => loadConfig({ env: base, configFile: '/nonexistent/x.yaml' })).toThrow(
      /config file \/nonexistent\/x.yaml: ENOENT/,
    );
    expect(() => loadConfig({ env: base, configFile: yamlFile('a: [1,\n') })).toThrow(/not valid YAML/);
  });
});
