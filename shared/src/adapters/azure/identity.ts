/**
 * The one Microsoft Entra ID credential of a process, from the `azure` settings. Every Azure client takes it:
 * FHIR servers with auth `azure`, Cosmos DB, Service Bus and Blob Storage when no key is configured. In a
 * Container App it is the app's user-assigned managed identity (`managed-identity` with AZURE_CLIENT_ID, or
 * `default`, which tries the environment, workload identity, managed identity and the Azure CLI in turn).
 */
import {
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  type TokenCredential,
} from '@azure/identity';
import type { AzureCredentialConfig } from '../../config/schema.ts';

export function createAzureCredential(config: AzureCredentialConfig): TokenCredential {
  switch (config.credential) {
    case 'default':
      return new DefaultAzureCredential(config.clientId ? { managedIdentityClientId: config.clientId } : {});
    case 'managed-identity':
      return config.clientId
        ? new ManagedIdentityCredential({ clientId: config.clientId })
        : new ManagedIdentityCredential();
    case 'client-secret':
      if (!config.tenantId || !config.clientId || !config.clientSecret)
        throw new Error('azure credential client-secret needs tenantId, clientId and clientSecret');
      return new ClientSecretCredential(config.tenantId, config.clientId, config.clientSecret);
    default:
      throw new Error(`unknown azure credential: ${String(config.credential satisfies never)}`);
  }
}

/** The Entra ID scope of a resource: `<resource URL>/.default` (a FHIR server's audience is its base URL). */
export function defaultScope(resourceUrl: string): string {
  return `${resourceUrl.replace(/\/+$/, '')}/.default`;
}

/** Blob Storage's scope, for reading export files from the source's export storage account. */
export const storageScope = 'https://storage.azure.com/.default';
