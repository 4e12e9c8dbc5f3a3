/**
 * Writes generated waves to a FHIR server through transaction bundles and reports what is there afterwards.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type FhirResource, planWave, seededTypes, type Write } from './generator.ts';
import { stringify } from './json-decimal.ts';

export interface SeedOptions {
  baseUrl: string;
  patients: number;
  waves: number;
  /** Minimum time between the last write of one wave and the first write of the next. */
  waveGapMs: number;
  seed: number;
  /** Entries per transaction bundle (default 100). */
  bundleSize?: number;
  onProgress?: (message: string) => void;
}

export interface TypeCounts {
  /** Resources created (first version written). */
  created: number;
  /** Update writes to existing resources (each adds a version). */
  updated: number;
  deleted: number;
  /** Resources that exist at the end: created − deleted. */
  current: number;
}

export interface WaveReport {
  wave: number;
  writes: number;
  firstLastUpdated: string;
  lastLastUpdated: string;
}

export interface SeedReport {
  baseUrl: string;
  seed: number;
  patients: number;
  waves: WaveReport[];
  types: Record<string, TypeCounts>;
  totalCurrent: number;
  firstLastUpdated: string;
  lastLastUpdated: string;
  /** Ids of the resources that exist at the end, per type. */
  currentIds: Record<string, string[]>;
  deletedIds: Record<string, string[]>;
}

export async function seedData(options: SeedOptions): Promise<SeedReport> {
  validate(options);
  const bundleSize = options.bundleSize ?? 100;
  const types: Record<string, TypeCounts> = Object.fromEntries(
    seededTypes.map((t) => [t, { created: 0, updated: 0, deleted: 0, current: 0 }]),
  );
  const current: Record<string, Set<string>> = Object.fromEntries(
    seededTypes.map((t) => [t, new Set<string>()]),
  );
  const deleted: Record<string, Set<string>> = Object.fromEntries(
    seededTypes.map((t) => [t, new Set<string>()]),
  );
  const waves: WaveReport[] = [];
  let previousWaveEnd: number | undefined;
  for (let wave = 0; wave < options.waves; wave++) {
    if (previousWaveEnd !== undefined) {
      const wait = previousWaveEnd + options.waveGapMs - Date.now();
      if (wait > 0) {
        options.onProgress?.(`waiting ${(wait / 1000).toFixed(1)}s before wave ${wave + 1}`);
        await sleep(wait);
      }
    }
    const plan = planWave(options, wave);
    const stamps: string[] = [];
    for (let i = 0; i < plan.writes.length; i += bundleSize) {
      const batch = plan.writes.slice(i, i + bundleSize);
      stamps.push(...(await postTransaction(options.baseUrl, batch, wave)));
    }
    for (const write of plan.writes) {
      if (write.kind === 'put') {
        const { resourceType, id } = write.resource;
        const counts = types[resourceType] as TypeCounts;
        if (write.isUpdate) counts.updated++;
        else counts.created++;
        current[resourceType]?.add(id);
      } else {
        (types[write.resourceType] as TypeCounts).deleted++;
        current[write.resourceType]?.delete(write.id);
        deleted[write.resourceType]?.add(write.id);
      }
    }
    stamps.sort();
    const report: WaveReport = {
      wave: wave + 1,
      writes: plan.writes.length,
      firstLastUpdated: stamps[0] ?? '',
      lastLastUpdated: stamps[stamps.length - 1] ?? '',
    };
    waves.push(report);
    previousWaveEnd = Math.max(Date.now(), Date.parse(report.lastLastUpdated));
    options.onProgress?.(
      `wave ${wave + 1}/${options.waves}: ${plan.writes.length} writes, lastUpdated ${report.firstLastUpdated} .. ${report.lastLastUpdated}`,
    );
  }
  for (const t of seededTypes) (types[t] as TypeCounts).current = current[t]?.size ?? 0;
  return {
    baseUrl: options.baseUrl,
    seed: options.seed,
    patients: options.patients,
    waves,
    types,
    totalCurrent: Object.values(types).reduce((sum, c) => sum + c.current, 0),
    firstLastUpdated: waves[0]?.firstLastUpdated ?? '',
    lastLastUpdated: waves[waves.length - 1]?.lastLastUpdated ?? '',
    currentIds: Object.fromEntries(seededTypes.map((t) => [t, [...(current[t] ?? [])].sort()])),
    deletedIds: Object.fromEntries(seededTypes.map((t) => [t, [...(deleted[t] ?? [])].sort()])),
  };
}

function validate(options: SeedOptions): void {
  const positiveInt = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`--${name} must be a positive integer, got ${value}`);
  };
  positiveInt('patients', options.patients);
  positiveInt('waves', options.waves);
  if (!Number.isInteger(options.seed) || options.seed < 0)
    throw new Error(`--seed must be a non-negative integer, got ${options.seed}`);
  if (options.waves > options.patients)
    throw new Error(
      `--waves (${options.waves}) cannot exceed --patients (${options.patients}): every wave needs a patient`,
    );
  if (!(options.waveGapMs >= 0))
    throw new Error(`--wave-gap must be a duration >= 0, got ${options.waveGapMs}ms`);
  if (!/^https?:\/\//.test(options.baseUrl))
    throw new Error(`--base must be an http(s) FHIR base URL, got '${options.baseUrl}'`);
}

/** Posts one transaction and returns the lastModified stamps the server reported for its entries. */
async function postTransaction(baseUrl: string, writes: Write[], wave: number): Promise<string[]> {
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: writes.map((w) =>
      w.kind === 'put'
        ? {
            fullUrl: `${w.resource.resourceType}/${w.resource.id}`,
            resource: w.resource,
            request: { method: 'PUT', url: `${w.resource.resourceType}/${w.resource.id}` },
          }
        : { request: { method: 'DELETE', url: `${w.resourceType}/${w.id}` } },
    ),
  };
  const res = await fetch(baseUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
    body: stringify(bundle),
  });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(
      `wave ${wave + 1}: transaction of ${writes.length} entries to ${baseUrl} failed with HTTP ${res.status}: ${text.slice(0, 600)}`,
    );
  }
  const reply = JSON.parse(text) as { entry?: { response?: { status?: string; lastModified?: string } }[] };
  const entries = reply.entry ?? [];
  if (entries.length !== writes.length) {
    throw new Error(
      `wave ${wave + 1}: transaction returned ${entries.length} entries for ${writes.length} writes`,
    );
  }
  const stamps: string[] = [];
  entries.forEach((entry, i) => {
    const status = entry.response?.status ?? '';
    if (!/^20[0-4]/.test(status)) {
      const w = writes[i] as Write;
      const what =
        w.kind === 'put' ? `${w.resource.resourceType}/${w.resource.id}` : `${w.resourceType}/${w.id}`;
      throw new Error(`wave ${wave + 1}: ${what} answered '${status}'`);
    }
    if (entry.response?.lastModified) stamps.push(new Date(entry.response.lastModified).toISOString());
  });
  return stamps;
}

export type { FhirResource };
