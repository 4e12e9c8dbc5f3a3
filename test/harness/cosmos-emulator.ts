/** Placeholder global setup for the azure project: replaced by the cosmosdb-server harness. */
export default async function setup(): Promise<void> {}
