/**
 * Vitest global setup for the fault suite, after the FHIR servers' (test/harness/global-setup.ts):
 * builds Toxiproxy if needed, starts it on 127.0.0.1, and stops it by its PID when the run ends.
 */
import type { TestProject } from 'vitest/node';
import { startToxiproxy } from './toxiproxy.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    toxiproxyApi: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const port = Number(process.env.TOXIPROXY_PORT ?? 8474);
  const toxiproxy = await startToxiproxy(port);
  console.log(`[faults] Toxiproxy on ${toxiproxy.apiUrl} (pid ${toxiproxy.pid})`);
  project.provide('toxiproxyApi', toxiproxy.apiUrl);
  return () => toxiproxy.stop();
}
