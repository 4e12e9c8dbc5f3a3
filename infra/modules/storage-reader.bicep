// Storage Blob Data Reader on an existing account (the source's export storage, when it is not the staging
// account): the exporter downloads the $export output files from there. Deployed into the account's resource group.
param accountName string
param readerPrincipalIds array

var blobDataReaderRole = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

resource readers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in readerPrincipalIds: {
    scope: account
    name: guid(account.id, principalId, blobDataReaderRole)
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataReaderRole)
    }
  }
]
