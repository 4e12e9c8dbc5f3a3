/**
 * One `fhir-migrate run --until-caught-up` as an operator would start it (a child process on the embedded
 * adapters), timed from spawn to exit, and its ledger read back.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase } from '@fhir-migrate/shared/adapters/sqlite/database.ts';
import { createSqliteLedger } from '@fhir-migrate/shared/adapters/sqlite/ledger-sqlite.ts';
import { runCli } from '../harness/fhir-migrate.ts';
import { type ChunkTimes, chunkTimesOf, type PipelineStats, pipelineStats } from './ledger-stats.ts';

export interface ToolRunOptions {
  sourceUrl: string;
  destinationUrl: string;
  types: readonly string[];
  startDate: string;
  chunkDuration: string;
  /** Extra flags, e.g. ['--import-dialect', 'rest']. */
  extra?: string[];
}

export interface ToolRunResult {
  totalMs: number;
  peakRssMb: number;
  chunks: ChunkTimes[];
  stats: PipelineStats;
  stateFile: string;
  stagingDir: string;
}

export async function runTool(options: ToolRunOptions): Promise<ToolRunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-migrate-bench-'));
  const stateFile = join(dir, 'state.sqlite');
  const stagingDir = join(dir, 'staging');
  const result = await runCli([
    'run',
    '--source',
    options.sourceUrl,
    '--destination',
    options.destinationUrl,
    '--state',
    stateFile,
    '--staging-dir',
    stagingDir,
    '--resource-types',
    options.types.join(','),
    '--start-date',
    options.startDate,
    '--chunk-duration',
    options.chunkDuration,
    '--safety-lag',
    '1s',
    '--until-caught-up',
    '--no-api',
    ...(options.extra ?? []),
  ]);
  if (result.code !== 0)
    throw new Error(
      `fhir-migrate run exited with ${result.code}:\n${result.stderr.slice(-3000)}\n${result.stdout.slice(-2000)}`,
    );
  const db = openSqliteDatabase(stateFile);
  try {
    const events = await createSqliteLedger(db).readAll('default');
    const chunks = chunkTimesOf(events);
    return {
      totalMs: result.seconds * 1000,
      peakRssMb: result.peakRssMb,
      chunks,
      stats: pipelineStats(chunks),
      stateFile,
      stagingDir,
    };
  } finally {
    db.close();
  }
}
