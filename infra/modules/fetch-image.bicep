// The image a container app runs now, so that `azd provision` after `azd deploy` keeps it instead of
// resetting the app to the placeholder image (azd sets SERVICE_<NAME>_RESOURCE_EXISTS once the app exists).
param exists bool
param name string

resource existingApp 'Microsoft.App/containerApps@2024-03-01' existing = if (exists) {
  name: name
}

output containers array = exists ? existingApp!.properties.template.containers : []
