// The user-assigned identity of one service: its Azure AD principal for FHIR, Service Bus, Cosmos DB, Blob Storage
// and the registry (selected in the container through AZURE_CLIENT_ID).
param location string
param tags object
param name string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
