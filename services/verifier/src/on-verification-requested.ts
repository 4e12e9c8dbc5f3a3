/**
 * The verifier carries out a verification run an operator requested (through the API or the bus):
 * records that it started, runs the checks against both servers, records the result or the failure.
 * A run that already finished is not run again (a redelivered or replayed request is harmless).
 */
import { dirname, resolve } from 'node:path';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { reasonOf } from '@fhir-migrate/shared/application/errors.ts';
import { summarize } from '@fhir-migrate/shared/application/summary.ts';
import { loadVerification } from '@fhir-migrate/shared/application/verifications.ts';
import type { VerificationRequestedMessage } from '@fhir-migrate/shared/contracts/messages.ts';
import { runAndRecord } from './record-run.ts';

export async function onVerificationRequested(
  ctx: PipelineContext,
  msg: VerificationRequestedMessage,
): Promise<void> {
  const run = await loadVerification(ctx.ledger, msg.migrationId, msg.runId);
  if (!run) throw new Error(`verification run ${msg.runId} of ${msg.migrationId} is not in the ledger`);
  if (run.status === 'completed' || run.status === 'failed') return;
  const summary = await summarize(ctx.ledger, msg.migrationId, ctx.now());
  const log = ctx.log.child({ runId: msg.runId, kind: run.kind });
  log.info('verification started');
  try {
    const outcome = await runAndRecord(
      {
        source: ctx.source,
        destination: ctx.destination,
        workDir: resolve(dirname(resolve(ctx.config.state)), '.fhir-migrate-verify'),
        log,
      },
      { ledger: ctx.ledger, migrationId: msg.migrationId, runId: msg.runId, by: 'verifier' },
      run.request,
      {
        resourceTypes: ctx.config.resourceTypes,
        surfaceCheckResources: ctx.config.surfaceCheckResources,
        deepCheckCount: ctx.config.deepCheckCount,
        ...(summary.watermark ? { asOf: summary.watermark } : {}),
      },
      ctx.now,
    );
    log.info({ ok: outcome.ok }, 'verification completed');
  } catch (err) {
    // Recorded as VerificationFailed on the run; the request itself is done.
    log.warn({ reason: reasonOf(err) }, 'verification failed');
  }
}
