// One fhir-migrate service as a Container App: its own user-assigned identity (AZURE_CLIENT_ID), the image azd
// builds (found through the azd-service-name tag), KEDA rules on its Service Bus subscriptions, optional ingress.
param location string
param tags object
param name string
@description('The azd service name (azure.yaml) and the fhir-migrate service the image runs.')
param serviceName string
param environmentId string
param identityId string
param identityClientId string
param identityPrincipalId string
param registryLoginServer string
@description('True once azd has deployed an image: keep it on re-provision.')
param exists bool = false
@description('Environment variables shared by every service: [{ name, value }].')
param env array
@secure()
@description('The API key (api only): stored as a Container Apps secret, exposed as FHIR_MIGRATE_API_KEY.')
param apiKey string = ''
param minReplicas int = 1
param maxReplicas int = 1
@description('Service Bus namespace name (not the FQDN), for the scale rules.')
param serviceBusNamespaceName string = ''
@description('Topics whose subscription named after this service drives scaling.')
param scaleTopics array = []
@description('Active messages per replica before KEDA adds one.')
param messagesPerReplica int = 5
param ingressExternal bool = false
param targetPort int = 0
param cpu string = '0.5'
param memory string = '1Gi'

var placeholderImage = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'
var hasIngress = targetPort > 0
var secrets = empty(apiKey) ? [] : [
  {
    name: 'api-key'
    value: apiKey
  }
]
var secretEnv = empty(apiKey) ? [] : [
  {
    name: 'FHIR_MIGRATE_API_KEY'
    secretRef: 'api-key'
  }
]
var scaleRules = [
  for topic in scaleTopics: {
    name: 'sb-${topic}'
    custom: {
      type: 'azure-servicebus'
      identity: identityId
      metadata: {
        namespace: serviceBusNamespaceName
        topicName: topic
        subscriptionName: serviceName
        messageCount: string(messagesPerReplica)
      }
    }
  }
]
// Health probes once the real image runs (the placeholder of a first provision serves neither path).
var probes = hasIngress && exists ? [
  {
    type: 'Liveness'
    httpGet: {
      path: '/healthz'
      port: targetPort
    }
    periodSeconds: 30
  }
  {
    type: 'Readiness'
    httpGet: {
      path: '/readyz'
      port: targetPort
    }
    periodSeconds: 15
  }
] : []

// KEDA reads the subscriptions' runtime counts, which takes the Manage right: Azure Service Bus Data Owner,
// scoped to each topic this app scales on (not the namespace), for the app's identity.
var serviceBusDataOwnerRole = '090c5cfd-751d-490a-894a-3ce6f1109419'

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = if (!empty(scaleTopics)) {
  name: empty(serviceBusNamespaceName) ? 'none' : serviceBusNamespaceName
}

resource scaleTopicRefs 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' existing = [
  for topic in scaleTopics: {
    parent: serviceBusNamespace
    name: topic
  }
]

resource scalerRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (topic, i) in scaleTopics: {
    scope: scaleTopicRefs[i]
    name: guid(scaleTopicRefs[i].id, identityPrincipalId, serviceBusDataOwnerRole)
    properties: {
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwnerRole)
    }
  }
]

module fetchImage 'fetch-image.bicep' = {
  name: '${name}-image'
  params: {
    exists: exists
    name: name
  }
}

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      registries: [
        {
          server: registryLoginServer
          identity: identityId
        }
      ]
      secrets: secrets
      ingress: hasIngress ? {
        external: ingressExternal
        targetPort: targetPort
        transport: 'auto'
        allowInsecure: false
      } : null
    }
    template: {
      containers: [
        {
          name: serviceName
          image: fetchImage.outputs.?containers[?0].?image ?? placeholderImage
          env: concat(
            env,
            [
              {
                name: 'AZURE_CLIENT_ID'
                value: identityClientId
              }
            ],
            secretEnv
          )
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          probes: probes
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: scaleRules
      }
    }
  }
}

output name string = app.name
output fqdn string = hasIngress ? app.properties.configuration.ingress.fqdn : ''
output uri string = hasIngress ? 'https://${app.properties.configuration.ingress.fqdn}' : ''
