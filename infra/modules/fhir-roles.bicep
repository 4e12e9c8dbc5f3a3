// FHIR data-plane roles on an existing FHIR service, deployed into that service's resource group.
// Works for Azure API for FHIR (Microsoft.HealthcareApis/services) and for the AHDS FHIR service
// (Microsoft.HealthcareApis/workspaces/fhirservices); which one is read from the resource id.
@description('Resource id of the FHIR service.')
param fhirServiceResourceId string
@description('Role assignments: [{ principalId, roleDefinitionId }] (role GUIDs).')
param assignments array

var parts = split(fhirServiceResourceId, '/')
var isAhds = contains(toLower(fhirServiceResourceId), '/workspaces/')
// /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.HealthcareApis/services/{name}
// /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.HealthcareApis/workspaces/{ws}/fhirservices/{name}
var serviceName = length(parts) > 8 ? parts[8] : 'none'
var fhirName = length(parts) > 10 ? parts[10] : 'none'

resource apiForFhir 'Microsoft.HealthcareApis/services@2023-11-01' existing = if (!isAhds) {
  name: serviceName
}

resource workspace 'Microsoft.HealthcareApis/workspaces@2023-11-01' existing = if (isAhds) {
  name: serviceName
}

resource ahdsFhir 'Microsoft.HealthcareApis/workspaces/fhirservices@2023-11-01' existing = if (isAhds) {
  parent: workspace
  name: fhirName
}

resource apiForFhirRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in (isAhds ? [] : assignments): {
    scope: apiForFhir
    name: guid(fhirServiceResourceId, a.principalId, a.roleDefinitionId)
    properties: {
      principalId: a.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleDefinitionId)
    }
  }
]

resource ahdsRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in (isAhds ? assignments : []): {
    scope: ahdsFhir
    name: guid(fhirServiceResourceId, a.principalId, a.roleDefinitionId)
    properties: {
      principalId: a.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleDefinitionId)
    }
  }
]
