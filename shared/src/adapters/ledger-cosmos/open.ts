/**
 * A Cosmos DB ledger from its settings: a client with the ledger's throttling retries, authenticated with
 * the account key (the emulator, accounts with local auth) or the process's Entra ID credential.
 */
import { CosmosClient } from '@azure/cosmos';
import type { TokenCredential } from '@azure/identity';
import type { Ledger } from '../../ports/ledger.ts';
import { redactText } from '../fhir-http/redact.ts';
import { cosmosLedgerClientOptions, createCosmosLedger, ensureLedgerContainer } from './ledger-cosmos.ts';

export interface CosmosLedgerSettings {
  endpoint: string;
  database: string;
  container: string;
  key?: string | undefined;
}

export async function openCosmosLedger(
  settings: CosmosLedgerSettings,
  credential: () => TokenCredential,
): Promise<Ledger> {
  const plainHttp = settings.endpoint.startsWith('http:');
  const client = new CosmosClient(
    cosmosLedgerClientOptions({
      endpoint: settings.endpoint,
      ...(settings.key ? { key: settings.key } : { aadCredentials: credential() }),
      // A local emulator over plain HTTP has no regional endpoints to discover.
      ...(plainHttp ? { connectionPolicy: { enableEndpointDiscovery: false } } : {}),
    }),
  );
  try {
    // With a key the database and container are made if missing. With Entra ID the data-plane role cannot
    // create them: the deployment does, and a read proves they are there before any work starts.
    const container = settings.key
      ? await ensureLedgerContainer(client, settings.database, settings.container)
      : client.database(settings.database).container(settings.container);
    if (!settings.key) await container.read();
    const ledger = createCosmosLedger({ container });
    return {
      ...ledger,
      async close() {
        await ledger.close();
        client.dispose();
      },
    };
  } catch (err) {
    client.dispose();
    throw new Error(
      `cannot open the Cosmos DB ledger ${settings.database}/${settings.container} at ${settings.endpoint}: ${redactText(err instanceof Error ? err.message : String(err)).slice(0, 500)}`,
    );
  }
}
