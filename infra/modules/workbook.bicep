// The migration workbook (infra/workbook.json) attached to Application Insights.
param location string
param tags object
param applicationInsightsId string
param displayName string = 'fhir-migrate: migration'

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A fixed GUID per resource group and Application Insights, so that every `azd provision` updates the same workbook.
  name: guid(resourceGroup().id, applicationInsightsId, 'fhir-migrate-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: replace(loadTextContent('../workbook.json'), '__APPLICATION_INSIGHTS_ID__', applicationInsightsId)
    version: 'Notebook/1.0'
  }
}

output workbookId string = workbook.id
