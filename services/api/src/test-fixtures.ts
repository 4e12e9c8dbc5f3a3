/** Ledger fixtures shared by the API's int tests. */
export function migrationStartedEvent(at: string) {
  return {
    type: 'MigrationStarted',
    at,
    data: {
      sourceUrl: 'http://s/fhir',
      destinationUrl: 'http://d/fhir',
      exportDialect: 'hapi',
      importDialect: 'hapi',
      startAt: '2025-01-01T00:00:00.000Z',
      resourceTypes: ['Patient'],
    },
  };
}
