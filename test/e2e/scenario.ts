/** What the pipeline end-to-end tests share: a fresh seed, its data on the source, and the CLI arguments. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededTypes } from '../data/generator.ts';
import { type SeedReport, seedData } from '../data/loader.ts';

export interface Scenario {
  seed: number;
  startDate: string;
  report: SeedReport;
  dir: string;
  state: string;
}

let counter = 0;

/** Seeds the source in waves (a distinct seed per scenario) and returns where its data starts. */
export async function seedScenario(
  sourceUrl: string,
  options: { patients: number; waves: number; waveGapMs: number; bundleSize?: number },
): Promise<Scenario> {
  const seed = (Math.floor(Date.now() / 1000) % 100_000) * 10 + (counter++ % 10);
  const startDate = new Date(Date.now() - 1000).toISOString();
  const report = await seedData({ baseUrl: sourceUrl, seed, ...options });
  const dir = mkdtempSync(join(tmpdir(), 'fhir-migrate-e2e-'));
  return { seed, startDate, report, dir, state: join(dir, 'state.sqlite') };
}

export function migrationArgs(
  s: Scenario,
  sourceUrl: string,
  destinationUrl: string,
  extra: string[] = [],
): string[] {
  return [
    '--source',
    sourceUrl,
    '--destination',
    destinationUrl,
    '--state',
    s.state,
    '--start-date',
    s.startDate,
    '--resource-types',
    seededTypes.join(','),
    '--safety-lag',
    '1s',
    // Every run serves its API on a free port (tests run several migrations; 8080 may be taken).
    '--api-port',
    '0',
    ...extra,
  ];
}

export interface StatusJson {
  watermark?: string;
  chunks: { total: number; byStatus: Record<string, number> };
  resources: { exported: number; imported: number; failed: number; rejected: number };
  halted: { chunkId: string; reason: string }[];
  searchParameters?: { copied: number; unchanged?: number; failures: number; reindex: string };
  list: {
    chunkId: string;
    since: string;
    till: string;
    status: string;
    expectedCount: number;
    staged: number;
  }[];
}
