// The staging account and its `staging` container. Either created here (StorageV2, no shared keys, no public
// blobs) or an existing account (createAccount = false), typically the one already configured as the source's
// export storage and the destination's import store: AHDS $import reads only from its configured account,
// through its own identity, and rejects SAS URLs. Deployed into the account's resource group.
param location string
param tags object
param name string
param createAccount bool
param containerName string = 'staging'
@description('Principal ids given Storage Blob Data Contributor on the account (the service identities and the FHIR services\' own identities).')
param blobContributorPrincipalIds array
@description('Optional: the deploying user, given Storage Blob Data Contributor.')
param userPrincipalId string = ''
param userPrincipalType string = 'User'

var blobDataContributorRole = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = if (createAccount) {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // The FHIR services reach the account as trusted Microsoft services.
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource accountRef 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: name
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: accountRef
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
  dependsOn: [
    account
  ]
}

resource contributors 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in blobContributorPrincipalIds: {
    scope: accountRef
    name: guid(accountRef.id, principalId, blobDataContributorRole)
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRole)
    }
    dependsOn: [
      account
    ]
  }
]

resource userContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  scope: accountRef
  name: guid(accountRef.id, userPrincipalId, blobDataContributorRole)
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRole)
  }
  dependsOn: [
    account
  ]
}

output name string = accountRef.name
output id string = accountRef.id
output blobEndpoint string = 'https://${name}.blob.${environment().suffixes.storage}'
output containerName string = container.name
