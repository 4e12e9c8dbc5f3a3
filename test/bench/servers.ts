/** The benchmark's own pair of HAPI servers (never the test pair), and the FHIR calls it makes on them. */
import { countOf, FhirHttpError } from '../harness/fhir-http.ts';
import { type ServerInfo, startInstances, stopInstance } from '../harness/servers.ts';

export const benchInstances = { source: 'bench-source', destination: 'bench-destination' } as const;

export interface BenchServers {
  source: ServerInfo;
  destination: ServerInfo;
}

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw ? Number(raw) : fallback;
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    throw new Error(`${name}=${raw} is not a TCP port`);
  return value;
}

/** Starts both with empty data (BENCH_SOURCE_PORT / BENCH_DEST_PORT, default 8091 / 8092). */
export async function startBenchServers(): Promise<BenchServers> {
  const [source, destination] = (await startInstances(
    [
      { name: benchInstances.source, port: port('BENCH_SOURCE_PORT', 8091), referentialIntegrity: true },
      { name: benchInstances.destination, port: port('BENCH_DEST_PORT', 8092), referentialIntegrity: false },
    ],
    {
      stopCommand: 'npm run bench -- --stop',
      portSetting: (name) => (name === benchInstances.source ? 'BENCH_SOURCE_PORT' : 'BENCH_DEST_PORT'),
    },
  )) as [ServerInfo, ServerInfo];
  return { source, destination };
}

export async function stopBenchServers(): Promise<string[]> {
  const stopped: string[] = [];
  for (const name of Object.values(benchInstances)) if (await stopInstance(name)) stopped.push(name);
  return stopped;
}

/** Empties a server (HAPI `$expunge` with expungeEverything) and checks that nothing of `types` is left. */
export async function emptyServer(baseUrl: string, types: readonly string[]): Promise<void> {
  const res = await fetch(`${baseUrl}/$expunge`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
    body: JSON.stringify({
      resourceType: 'Parameters',
      parameter: [{ name: 'expungeEverything', valueBoolean: true }],
    }),
  });
  const body = await res.text();
  if (!res.ok) throw new FhirHttpError(`${baseUrl}/$expunge`, res.status, body);
  const left = await totalOf(baseUrl, types);
  if (left !== 0) throw new Error(`${baseUrl} still holds ${left} resources after $expunge`);
}

/** Resources of `types` on the server, per type. */
export async function countsOf(baseUrl: string, types: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const type of types) counts[type] = await countOf(baseUrl, type, '_total=accurate');
  return counts;
}

export async function totalOf(baseUrl: string, types: readonly string[]): Promise<number> {
  return Object.values(await countsOf(baseUrl, types)).reduce((a, b) => a + b, 0);
}

/** Throws unless the destination holds exactly what the source holds, type by type. */
export async function assertSameCounts(
  what: string,
  sourceUrl: string,
  destinationUrl: string,
  types: readonly string[],
): Promise<number> {
  const [source, destination] = await Promise.all([
    countsOf(sourceUrl, types),
    countsOf(destinationUrl, types),
  ]);
  const differing = types.filter((t) => source[t] !== destination[t]);
  if (differing.length > 0)
    throw new Error(
      `${what}: the destination does not hold what the source holds: ${differing
        .map((t) => `${t} ${destination[t]} of ${source[t]}`)
        .join(', ')}`,
    );
  return Object.values(destination).reduce((a, b) => a + b, 0);
}
