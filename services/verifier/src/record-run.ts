/**
 * Carrying out a requested verification run and recording it: Started (unless a crashed attempt already
 * recorded it), then Completed with the bounded result, or Failed with the reason (and the error rethrown).
 * Shared by the verifier service (runs requested over the bus) and the CLI (`verify`, `cutover`).
 */
import { reasonOf } from '@fhir-migrate/shared/application/errors.ts';
import { loadVerification, recordOutcome } from '@fhir-migrate/shared/application/verifications.ts';
import type { VerificationRequest } from '@fhir-migrate/shared/contracts/verification-events.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import type { CheckDeps, Progress } from './checks/types.ts';
import {
  forLedger,
  type RunDefaults,
  runVerification,
  type VerificationOutcome,
} from './verification-run.ts';

export interface RunRecord {
  ledger: Ledger;
  migrationId: string;
  runId: string;
  /** Who carries it out (`verifier`, `cli verify`, `cutover`). */
  by: string;
}

export async function runAndRecord(
  deps: CheckDeps,
  record: RunRecord | undefined,
  request: VerificationRequest,
  defaults: RunDefaults,
  now: () => Date,
  onProgress?: Progress,
): Promise<VerificationOutcome> {
  const at = () => now().toISOString();
  if (
    record &&
    (await loadVerification(record.ledger, record.migrationId, record.runId))?.status === 'requested'
  )
    await recordOutcome(record.ledger, record.migrationId, record.runId, {
      type: 'VerificationStarted',
      at: at(),
      data: { by: record.by },
    });
  try {
    const outcome = await runVerification(deps, request, defaults, now(), onProgress);
    if (record)
      await recordOutcome(record.ledger, record.migrationId, record.runId, {
        type: 'VerificationCompleted',
        at: at(),
        data: forLedger(outcome),
      });
    return outcome;
  } catch (err) {
    if (record)
      await recordOutcome(record.ledger, record.migrationId, record.runId, {
        type: 'VerificationFailed',
        at: at(),
        data: { reason: reasonOf(err) },
      });
    throw err;
  }
}
