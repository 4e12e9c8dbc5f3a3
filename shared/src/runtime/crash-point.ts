/**
 * Deterministic crash hooks for the fault suite: with FHIR_MIGRATE_TEST_CRASH_AT=<point>, the process kills
 * itself with SIGKILL the first time it reaches <point> — no cleanup, no flush, exactly like `kill -9` or an
 * OOM kill at that instant. Unset (always, in production), a crash point is one string comparison.
 */
export const crashPoints = [
  /** Planner: a chunk's ChunkPlanned is in the ledger, its chunk-planned message not yet published. */
  'after-plan',
  /** Exporter: the source accepted the $export kick-off; the job URL is not yet in the ledger. */
  'after-export-kickoff',
  /** Exporter: a status poll said the export is still running. */
  'export-poll',
  /** Exporter: the first block of an export file is in staging, the rest still downloading. */
  'mid-staging',
  /** Importer: the destination accepted the $import; the job URL is not yet in the ledger. */
  'after-import-submit',
  /** Importer: a status poll said the import is still running. */
  'import-poll',
  /** Verifier: the chunk's deep check has run; its result is not yet in the ledger. */
  'verification',
] as const;

export type CrashPoint = (typeof crashPoints)[number];

export const crashPointVariable = 'FHIR_MIGRATE_TEST_CRASH_AT';

export function crashPoint(point: CrashPoint): void {
  if (process.env[crashPointVariable] !== point) return;
  process.stderr.write(`${crashPointVariable}: killing process ${process.pid} at ${point}\n`);
  process.kill(process.pid, 'SIGKILL');
}
