/**
 * Vitest global setup for end-to-end suites: provides the FHIR servers to test files as `inject('fhirServers')`.
 * - FHIR_SOURCE_URL and FHIR_DEST_URL set: those servers are used as they are (nothing started or stopped).
 * - test servers already started by `npm run test-servers:start`: they are reused and left running.
 * - otherwise: both are started with empty data and stopped when the run ends.
 */
import type { TestProject } from 'vitest/node';
import { readRunning, rssMb, startServers, stopServers } from './servers.ts';

export interface FhirServers {
  sourceUrl: string;
  destinationUrl: string;
  /** How they came to be: started by this run, reused from test-servers:start, or external. */
  origin: 'started' | 'reused' | 'external';
}

declare module 'vitest' {
  export interface ProvidedContext {
    fhirServers: FhirServers;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const externalSource = process.env.FHIR_SOURCE_URL;
  const externalDestination = process.env.FHIR_DEST_URL;
  if (externalSource && externalDestination) {
    project.provide('fhirServers', {
      sourceUrl: externalSource,
      destinationUrl: externalDestination,
      origin: 'external',
    });
    return undefined;
  }
  const [runningSource, runningDestination] = await Promise.all([
    readRunning('source'),
    readRunning('destination'),
  ]);
  if (runningSource && runningDestination) {
    project.provide('fhirServers', {
      sourceUrl: runningSource.baseUrl,
      destinationUrl: runningDestination.baseUrl,
      origin: 'reused',
    });
    return undefined;
  }
  const servers = await startServers();
  for (const s of Object.values(servers)) {
    console.log(
      `[test-servers] ${s.role} ${s.baseUrl} up in ${s.startupSeconds.toFixed(1)}s, rss ${rssMb(s.pid)?.toFixed(0) ?? '?'} MB`,
    );
  }
  project.provide('fhirServers', {
    sourceUrl: servers.source.baseUrl,
    destinationUrl: servers.destination.baseUrl,
    origin: 'started',
  });
  return async () => {
    for (const s of Object.values(servers)) {
      console.log(`[test-servers] ${s.role} rss at end ${rssMb(s.pid)?.toFixed(0) ?? '?'} MB`);
    }
    await stopServers();
  };
}
