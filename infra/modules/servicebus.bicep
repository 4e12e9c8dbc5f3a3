// Service Bus (Standard): one topic per message type, one subscription per consuming service, and the roles.
//
// Topics detect duplicates on messageId (publishers use deterministic ids). Subscriptions dead-letter after
// maxDeliveryCount deliveries and on expiry. Each subscription's $Default rule is replaced by a SQL filter
// `replayTo IS NULL OR replayTo = '<subscription>'`: ordinary messages reach every subscription of their
// topic, while a dead letter replayed with the application property replayTo reaches only the subscription
// that dead-lettered it. Rules are declared here so the apps never need the Manage right at run time.
param location string
param tags object
param name string
@description('Topic names.')
param topics array
@description('Subscriptions: [{ topic, subscription }].')
param subscriptions array
@description('Principal ids allowed to send (Azure Service Bus Data Sender on the namespace).')
param senderPrincipalIds array
@description('Principal ids allowed to receive, settle and read dead letters (Azure Service Bus Data Receiver on the namespace).')
param receiverPrincipalIds array
@description('Broker-side delivery limit. Above the services\' own limit (10), which dead-letters with the handler\'s last error as the reason; the broker\'s MaxDeliveryCountExceeded would carry none.')
param maxDeliveryCount int = 100
@description('Peek-lock duration (at most 5 minutes); handlers renew longer locks.')
param lockDuration string = 'PT5M'
param duplicateDetectionWindow string = 'PT1H'
param defaultMessageTimeToLive string = 'P14D'
@description('Principal type of the human principal in userPrincipalId.')
param userPrincipalType string = 'User'
@description('Optional: the deploying user, given send and receive to run the CLI against Azure.')
param userPrincipalId string = ''

var senderRole = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var receiverRole = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource topicResources 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = [
  for topic in topics: {
    parent: namespace
    name: topic
    properties: {
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
      defaultMessageTimeToLive: defaultMessageTimeToLive
      enableBatchedOperations: true
      supportOrdering: false
    }
  }
]

resource subscriptionResources 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [
  for s in subscriptions: {
    name: '${namespace.name}/${s.topic}/${s.subscription}'
    properties: {
      maxDeliveryCount: maxDeliveryCount
      lockDuration: lockDuration
      deadLetteringOnMessageExpiration: true
      deadLetteringOnFilterEvaluationExceptions: true
      defaultMessageTimeToLive: defaultMessageTimeToLive
      enableBatchedOperations: true
      requiresSession: false
    }
    dependsOn: [
      topicResources
    ]
  }
]

resource replayRules 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = [
  for (s, i) in subscriptions: {
    // Naming the rule $Default replaces the match-all rule Service Bus creates with every subscription.
    name: '${namespace.name}/${s.topic}/${s.subscription}/$Default'
    properties: {
      filterType: 'SqlFilter'
      sqlFilter: {
        sqlExpression: 'replayTo IS NULL OR replayTo = \'${s.subscription}\''
      }
    }
    dependsOn: [
      subscriptionResources[i]
    ]
  }
]

resource senders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in senderPrincipalIds: {
    scope: namespace
    name: guid(namespace.id, principalId, senderRole)
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', senderRole)
    }
  }
]

resource receivers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in receiverPrincipalIds: {
    scope: namespace
    name: guid(namespace.id, principalId, receiverRole)
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', receiverRole)
    }
  }
]

resource userSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  scope: namespace
  name: guid(namespace.id, userPrincipalId, senderRole)
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', senderRole)
  }
}

resource userReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  scope: namespace
  name: guid(namespace.id, userPrincipalId, receiverRole)
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', receiverRole)
  }
}

output name string = namespace.name
@description('Fully qualified namespace, e.g. sb-xyz.servicebus.windows.net.')
output fullyQualifiedNamespace string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')
