/**
 * Opening the configured stores: the state file (refused when a reading command names one that does not
 * exist), and the Service Bus bus chosen by configuration. No Service Bus can run here, so the latter only
 * proves the selection and that nothing connects before a message moves.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAzureCredential } from '@fhir-migrate/shared/adapters/azure/identity.ts';
import { declareTopology } from '@fhir-migrate/shared/application/topology.ts';
import { ConfigError } from '@fhir-migrate/shared/config/load.ts';
import { storesConfigSchema } from '@fhir-migrate/shared/config/schema.ts';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { openStores } from './stores.ts';

const log = pino({ level: 'silent' });

describe('openStores', () => {
  it('refuses a state file that does not exist for a reading command, and creates nothing', async () => {
    const state = join(mkdtempSync(join(tmpdir(), 'fm-stores-')), 'missing.sqlite');
    const config = storesConfigSchema.parse({ state });
    await expect(openStores(config, log, { mustExist: true })).rejects.toThrow(ConfigError);
    await expect(openStores(config, log, { mustExist: true })).rejects.toThrow(
      /state file .*missing\.sqlite does not exist/,
    );
    expect(existsSync(state)).toBe(false);
    const stores = await openStores(config, log);
    expect(stores.describe).toBe(`ledger in state file ${state}, bus in the same file`);
    await stores.close();
    expect(existsSync(state)).toBe(true);
  });

  it('selects the Service Bus bus by configuration, which declares nothing without manageTopology (no Service Bus here: nothing connects)', async () => {
    const state = join(mkdtempSync(join(tmpdir(), 'fm-stores-')), 'ledger.sqlite');
    const config = storesConfigSchema.parse({
      state,
      bus: 'servicebus',
      serviceBus: {
        connectionString:
          'Endpoint=sb://fm-test.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=bm90LWEta2V5',
      },
    });
    const stores = await openStores(config, log);
    try {
      expect(stores.describe).toBe(`ledger in state file ${state}, bus in Service Bus (connection string)`);
      // Every process declares the topology on start; with the deployment owning it, that makes no call.
      await declareTopology(stores.bus);
      expect(await stores.ledger.listStreams('default')).toEqual([]);
    } finally {
      await stores.close();
    }
  });
});

describe('createAzureCredential', () => {
  it('makes the configured kind of credential, without contacting Entra ID', () => {
    // By class name: the cli resolves another copy of @azure/identity (azurite's) than shared does.
    const kind = (c: object) => c.constructor.name;
    expect(kind(createAzureCredential({ credential: 'default' }))).toBe('DefaultAzureCredential');
    expect(kind(createAzureCredential({ credential: 'managed-identity', clientId: 'x' }))).toBe(
      'ManagedIdentityCredential',
    );
    expect(
      kind(
        createAzureCredential({
          credential: 'client-secret',
          tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
          clientId: 'c',
          clientSecret: 's',
        }),
      ),
    ).toBe('ClientSecretCredential');
    expect(() => createAzureCredential({ credential: 'client-secret', clientId: 'c' })).toThrow(
      /needs tenantId, clientId and clientSecret/,
    );
  });
});
