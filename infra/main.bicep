// fhir-migrate on Azure (`azd up`): five Container Apps (planner, exporter, importer, verifier, api) that migrate
// from a source FHIR server (Azure API for FHIR) to a destination (AHDS FHIR service), with Service Bus topics,
// a Cosmos DB ledger, Blob staging, Application Insights and a workbook. See docs/azure.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name: names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource created here.')
param location string

@description('Optional: the deploying user (azd sets it), given data access to run the CLI against the deployment.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Migration id the services work on.')
param migrationId string = 'default'

@description('Base URL of the source FHIR server (Azure API for FHIR), e.g. https://<account>.azurehealthcareapis.com.')
param sourceFhirUrl string

@description('Base URL of the destination FHIR server (AHDS), e.g. https://<workspace>-<fhir>.fhir.azurehealthcareapis.com.')
param destinationFhirUrl string

@description('Optional: resource id of the source FHIR service; when set, its data-plane roles are assigned here.')
param sourceFhirServiceResourceId string = ''

@description('Optional: resource id of the destination FHIR service; when set, its data-plane roles are assigned here.')
param destinationFhirServiceResourceId string = ''

@description('Optional: principal id of the source FHIR service\'s system-assigned identity (Storage Blob Data Contributor on staging, for $export).')
param sourceFhirPrincipalId string = ''

@description('Optional: principal id of the destination FHIR service\'s system-assigned identity (Storage Blob Data Contributor on staging, for $import).')
param destinationFhirPrincipalId string = ''

@description('Staging storage account name; empty = a new account named from the environment.')
param storageAccountName string = ''

@description('True: storageAccountName is an existing account (e.g. the one the FHIR services are configured with); only the container and roles are added.')
param storageAccountExisting bool = false

@description('Resource group of an existing staging account; empty = the environment\'s resource group.')
param storageAccountResourceGroupName string = ''

@description('Optional: the source\'s export storage account, when it is not the staging account (the exporter gets Storage Blob Data Reader on it).')
param sourceExportStorageAccountName string = ''

@description('Resource group of sourceExportStorageAccountName (same subscription).')
param sourceExportStorageAccountResourceGroupName string = ''

@secure()
@minLength(16)
@description('Bearer token the API\'s mutating routes require (a Container Apps secret).')
param apiKey string

@allowed([
  'trace'
  'debug'
  'info'
  'warn'
  'error'
])
param logLevel string = 'info'

@minValue(0)
@maxValue(1)
param exporterMinReplicas int = 1
@minValue(1)
param exporterMaxReplicas int = 2
@minValue(0)
@maxValue(1)
param importerMinReplicas int = 1
@minValue(1)
param importerMaxReplicas int = 1
@minValue(0)
@maxValue(1)
param verifierMinReplicas int = 1
@minValue(1)
param verifierMaxReplicas int = 2

// azd sets SERVICE_<NAME>_RESOURCE_EXISTS once a service has been deployed (main.parameters.json).
param plannerExists bool = false
param exporterExists bool = false
param importerExists bool = false
param verifierExists bool = false
param apiExists bool = false

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var resourceGroupName = '${abbrs.resourcesResourceGroups}${environmentName}'
var stagingAccountName = empty(storageAccountName) ? '${abbrs.storageStorageAccounts}${resourceToken}' : storageAccountName
var stagingResourceGroupName = empty(storageAccountResourceGroupName) ? resourceGroupName : storageAccountResourceGroupName

// Bus topology: keep in step with shared/src/contracts/messages.ts (`topics`, `subscriptions`);
// test/infra/infra.unit.spec.ts fails when they differ.
var topics = [
  'chunk-planned'
  'export-poll'
  'export-completed'
  'import-poll'
  'import-completed'
  'chunk-verified'
  'plan-tick'
  'verification-requested'
]
var topology = {
  planner: [
    'plan-tick'
    'export-completed'
    'import-completed'
    'chunk-verified'
  ]
  exporter: [
    'chunk-planned'
    'export-poll'
  ]
  importer: [
    'export-completed'
    'import-poll'
    'import-completed'
  ]
  verifier: [
    'import-completed'
    'verification-requested'
  ]
}
// The same, one entry per Service Bus subscription (named after the consuming service).
var subscriptions = [
  { topic: 'plan-tick', subscription: 'planner' }
  { topic: 'export-completed', subscription: 'planner' }
  { topic: 'import-completed', subscription: 'planner' }
  { topic: 'chunk-verified', subscription: 'planner' }
  { topic: 'chunk-planned', subscription: 'exporter' }
  { topic: 'export-poll', subscription: 'exporter' }
  { topic: 'export-completed', subscription: 'importer' }
  { topic: 'import-poll', subscription: 'importer' }
  { topic: 'import-completed', subscription: 'importer' }
  { topic: 'import-completed', subscription: 'verifier' }
  { topic: 'verification-requested', subscription: 'verifier' }
]

var services = [
  'planner'
  'exporter'
  'importer'
  'verifier'
  'api'
]

// FHIR data-plane roles (built-in role definition GUIDs).
var fhirDataReader = '4c8d0bbc-75d3-4935-991f-5f3c56d81508'
var fhirDataExporter = '3db33094-8700-4567-8da5-1501d4e7e843'
var fhirDataImporter = '4465e953-8ced-4406-a58e-0f6e3f3b530b'
var fhirDataContributor = '5a1fc7df-4bf1-4951-a576-89034ee01acd'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module identities 'modules/identity.bicep' = [
  for service in services: {
    name: 'identity-${service}'
    scope: rg
    params: {
      location: location
      tags: tags
      name: '${abbrs.managedIdentityUserAssignedIdentities}${service}-${resourceToken}'
    }
  }
]

var servicePrincipalIds = [for (service, i) in services: identities[i].outputs.principalId]
var plannerPrincipalId = identities[0].outputs.principalId
var exporterPrincipalId = identities[1].outputs.principalId
var importerPrincipalId = identities[2].outputs.principalId
var verifierPrincipalId = identities[3].outputs.principalId

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.containerRegistryRegistries}${resourceToken}'
    pullPrincipalIds: servicePrincipalIds
  }
}

module containerAppsEnvironment 'modules/container-apps-environment.bicep' = {
  name: 'container-apps-environment'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.appManagedEnvironments}${resourceToken}'
    logAnalyticsWorkspaceName: monitoring.outputs.logAnalyticsWorkspaceName
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.serviceBusNamespaces}${resourceToken}'
    topics: topics
    subscriptions: subscriptions
    // Every service publishes (the api: control, verification requests, dead-letter replay).
    senderPrincipalIds: servicePrincipalIds
    // The workers receive; the api reads and replays dead letters.
    receiverPrincipalIds: servicePrincipalIds
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.documentDBDatabaseAccounts}${resourceToken}'
    databaseName: 'fhir-migrate'
    containerName: 'ledger'
    dataContributorPrincipalIds: servicePrincipalIds
    userPrincipalId: principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: resourceGroup(stagingResourceGroupName)
  params: {
    location: location
    tags: tags
    name: stagingAccountName
    createAccount: !storageAccountExisting
    containerName: 'staging'
    blobContributorPrincipalIds: concat(
      servicePrincipalIds,
      empty(sourceFhirPrincipalId) ? [] : [sourceFhirPrincipalId],
      empty(destinationFhirPrincipalId) ? [] : [destinationFhirPrincipalId]
    )
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
  dependsOn: [
    rg
  ]
}

module sourceExportStorageReader 'modules/storage-reader.bicep' = if (!empty(sourceExportStorageAccountName)) {
  name: 'source-export-storage-reader'
  scope: resourceGroup(empty(sourceExportStorageAccountResourceGroupName) ? resourceGroupName : sourceExportStorageAccountResourceGroupName)
  params: {
    accountName: sourceExportStorageAccountName
    readerPrincipalIds: [exporterPrincipalId]
  }
  dependsOn: [
    rg
  ]
}

// Subscription and resource group of each FHIR service (a harmless stand-in when no id is given: the module is skipped).
var fallbackScope = '/subscriptions/${subscription().subscriptionId}/resourceGroups/${resourceGroupName}'
var sourceFhirScope = split(empty(sourceFhirServiceResourceId) ? fallbackScope : sourceFhirServiceResourceId, '/')
var destinationFhirScope = split(empty(destinationFhirServiceResourceId) ? fallbackScope : destinationFhirServiceResourceId, '/')

// Source: the exporter runs $export; the planner counts windows and copies SearchParameters; the verifier reads.
module sourceFhirRoles 'modules/fhir-roles.bicep' = if (!empty(sourceFhirServiceResourceId)) {
  name: 'source-fhir-roles'
  scope: resourceGroup(sourceFhirScope[2], sourceFhirScope[4])
  params: {
    fhirServiceResourceId: sourceFhirServiceResourceId
    assignments: [
      { principalId: exporterPrincipalId, roleDefinitionId: fhirDataExporter }
      { principalId: plannerPrincipalId, roleDefinitionId: fhirDataReader }
      { principalId: verifierPrincipalId, roleDefinitionId: fhirDataReader }
    ]
  }
}

// Destination: the importer runs $import; the planner writes SearchParameters and starts $reindex; the verifier reads.
module destinationFhirRoles 'modules/fhir-roles.bicep' = if (!empty(destinationFhirServiceResourceId)) {
  name: 'destination-fhir-roles'
  scope: resourceGroup(destinationFhirScope[2], destinationFhirScope[4])
  params: {
    fhirServiceResourceId: destinationFhirServiceResourceId
    assignments: [
      { principalId: importerPrincipalId, roleDefinitionId: fhirDataImporter }
      { principalId: plannerPrincipalId, roleDefinitionId: fhirDataContributor }
      { principalId: verifierPrincipalId, roleDefinitionId: fhirDataReader }
    ]
  }
}

var exportStorageUrl = empty(sourceExportStorageAccountName) ? storage.outputs.blobEndpoint : 'https://${sourceExportStorageAccountName}.blob.${environment().suffixes.storage}'

// What every service container gets (AZURE_CLIENT_ID and the api's key are added per app).
var serviceEnv = [
  { name: 'FHIR_MIGRATE_MIGRATION_ID', value: migrationId }
  { name: 'FHIR_MIGRATE_SOURCE_URL', value: sourceFhirUrl }
  { name: 'FHIR_MIGRATE_DESTINATION_URL', value: destinationFhirUrl }
  // Each app's user-assigned identity (AZURE_CLIENT_ID, added per app) for FHIR, Cosmos, Service Bus and Storage.
  { name: 'FHIR_MIGRATE_AZURE_CREDENTIAL', value: 'managed-identity' }
  { name: 'FHIR_MIGRATE_SOURCE_AUTH', value: 'azure' }
  { name: 'FHIR_MIGRATE_DESTINATION_AUTH', value: 'azure' }
  { name: 'FHIR_MIGRATE_EXPORT_DIALECT', value: 'azure' }
  // Where the source's $export writes (the exporter follows manifest URLs only to the source or this account).
  { name: 'FHIR_MIGRATE_EXPORT_STORAGE_URL', value: exportStorageUrl }
  { name: 'FHIR_MIGRATE_IMPORT_DIALECT', value: 'ahds' }
  { name: 'FHIR_MIGRATE_LEDGER', value: 'cosmos' }
  { name: 'FHIR_MIGRATE_COSMOS_ENDPOINT', value: cosmos.outputs.endpoint }
  { name: 'FHIR_MIGRATE_COSMOS_DATABASE', value: cosmos.outputs.databaseName }
  { name: 'FHIR_MIGRATE_COSMOS_CONTAINER', value: cosmos.outputs.containerName }
  { name: 'FHIR_MIGRATE_BUS', value: 'servicebus' }
  { name: 'FHIR_MIGRATE_SERVICEBUS_NAMESPACE', value: serviceBus.outputs.fullyQualifiedNamespace }
  { name: 'FHIR_MIGRATE_STAGING', value: 'blob' }
  { name: 'FHIR_MIGRATE_BLOB_ACCOUNT_URL', value: storage.outputs.blobEndpoint }
  { name: 'FHIR_MIGRATE_BLOB_CONTAINER', value: storage.outputs.containerName }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: monitoring.outputs.applicationInsightsConnectionString }
  { name: 'FHIR_MIGRATE_LOG_LEVEL', value: logLevel }
]

var appSettings = {
  planner: { exists: plannerExists, min: 1, max: 1, scale: false, port: 0, cpu: '0.5', memory: '1Gi' }
  exporter: {
    exists: exporterExists
    min: exporterMinReplicas
    max: exporterMaxReplicas
    scale: true
    port: 0
    cpu: '1.0'
    memory: '2Gi'
  }
  importer: {
    exists: importerExists
    min: importerMinReplicas
    max: importerMaxReplicas
    scale: true
    port: 0
    cpu: '0.5'
    memory: '1Gi'
  }
  verifier: {
    exists: verifierExists
    min: verifierMinReplicas
    max: verifierMaxReplicas
    scale: true
    port: 0
    cpu: '0.5'
    memory: '1Gi'
  }
  api: { exists: apiExists, min: 1, max: 1, scale: false, port: 8080, cpu: '0.5', memory: '1Gi' }
}

module apps 'modules/container-app.bicep' = [
  for (service, i) in services: {
    name: 'app-${service}'
    scope: rg
    params: {
      location: location
      tags: tags
      name: '${abbrs.appContainerApps}${service}-${resourceToken}'
      serviceName: service
      environmentId: containerAppsEnvironment.outputs.id
      identityId: identities[i].outputs.id
      identityClientId: identities[i].outputs.clientId
      identityPrincipalId: identities[i].outputs.principalId
      registryLoginServer: registry.outputs.loginServer
      exists: appSettings[service].exists
      env: serviceEnv
      apiKey: service == 'api' ? apiKey : ''
      minReplicas: appSettings[service].min
      maxReplicas: appSettings[service].max
      serviceBusNamespaceName: serviceBus.outputs.name
      scaleTopics: appSettings[service].scale ? topology[service] : []
      ingressExternal: service == 'api'
      targetPort: appSettings[service].port
      cpu: appSettings[service].cpu
      memory: appSettings[service].memory
    }
    // AcrPull must exist before an app pulls from the registry with its identity.
    dependsOn: [
      registry
    ]
  }
]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_ENVIRONMENT_NAME string = containerAppsEnvironment.outputs.name
output SERVICE_API_URI string = apps[4].outputs.uri
output SERVICE_PLANNER_NAME string = apps[0].outputs.name
output SERVICE_EXPORTER_NAME string = apps[1].outputs.name
output SERVICE_IMPORTER_NAME string = apps[2].outputs.name
output SERVICE_VERIFIER_NAME string = apps[3].outputs.name
output SERVICE_API_NAME string = apps[4].outputs.name
output FHIR_MIGRATE_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output FHIR_MIGRATE_SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output FHIR_MIGRATE_BLOB_ACCOUNT_URL string = storage.outputs.blobEndpoint
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output WORKBOOK_ID string = workbook.outputs.workbookId
output STAGING_STORAGE_ACCOUNT_NAME string = storage.outputs.name
