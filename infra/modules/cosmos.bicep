// Cosmos DB for NoSQL: the event-sourced ledger. Serverless: the ledger's load comes in bursts (a few appends
// per chunk transition, reads by the API) and is small between them, so paying per request beats provisioned
// or autoscale throughput (whose minimum is billed around the clock). Switch to autoscale for sustained load
// above a few thousand RU/s: serverless caps a container's throughput and storage.
// Keys are disabled: the services authenticate with their identities through the data-plane role
// "Cosmos DB Built-in Data Contributor" (a sqlRoleAssignment, not an ARM role assignment).
param location string
param tags object
param name string
param databaseName string = 'fhir-migrate'
param containerName string = 'ledger'
@description('Principal ids given Cosmos DB Built-in Data Contributor.')
param dataContributorPrincipalIds array
@description('Optional: the deploying user, given the same data-plane role to run the CLI against Azure.')
param userPrincipalId string = ''

var dataContributorRole = '00000000-0000-0000-0000-000000000002'
var principals = empty(userPrincipalId) ? dataContributorPrincipalIds : union(dataContributorPrincipalIds, [userPrincipalId])

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      // The ledger reads its own writes (append at expected version, then re-read on conflict).
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: [
          '/migrationId'
        ]
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        excludedPaths: [
          {
            // Event payloads are read whole, never filtered on.
            path: '/data/*'
          }
          {
            path: '/"_etag"/?'
          }
        ]
      }
    }
  }
}

resource dataContributors 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in principals: {
    parent: account
    name: guid(account.id, principalId, dataContributorRole)
    properties: {
      principalId: principalId
      roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRole}'
      scope: account.id
    }
  }
]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
output containerName string = container.name
