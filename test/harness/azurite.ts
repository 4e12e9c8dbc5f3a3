/** Placeholder global setup for the azure project: replaced by the Azurite harness. */
export default async function setup(): Promise<void> {}
