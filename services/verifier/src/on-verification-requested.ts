/**
 * The verifier carries out a verification run an operator requested (through the API or the bus):
 * records that it started, runs the checks against both servers, records the result or the failure.
 * A run that already finished is not run again (a redelivered or replayed request is harmless).
 */
import { dirname, resolve } from 'node:path';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { reasonOf } from '@fhir-migrate/shared/application/errors.ts';
import { summarize } from '@fhir-migrate/shared/application/summary.ts';
import { loadVerification, recordOutcome } from '@fhir-migrate/shared/application/verifications.ts';
import type { VerificationRequestedMessage } from '@fhir-migrate/shared/contracts/messages.ts';
import { forLedger, runVerification } from './verification-run.ts';

export async function onVerificationRequested(
  ctx: PipelineContext,
  msg: VerificationRequestedMessage,
): Promise<void> {
  const run = await loadVerification(ctx.ledger, msg.migrationId, msg.runId);
  if (!run) throw new Error(`verification run ${msg.runId} of ${msg.migrationId} is not in the ledger`);
  if (run.status === 'completed' || run.status === 'failed') return;
  if (run.status === 'requested')
    await recordOutcome(ctx.ledger, msg.migrationId, msg.runId, {
      type: 'VerificationStarted',
      at: ctx.now().toISOString(),
      data: { by: 'verifier' },
    });
  const summary = await summarize(ctx.ledger, msg.migrationId, ctx.now());
  const log = ctx.log.child({ runId: msg.runId, kind: run.kind });
  log.info('verification started');
  try {
    const outcome = await runVerification(
      {
        source: ctx.source,
        destination: ctx.destination,
        workDir: resolve(dirname(resolve(ctx.config.state)), '.fhir-migrate-verify'),
        log,
      },
      run.request,
      {
        resourceTypes: ctx.config.resourceTypes,
        surfaceCheckResources: ctx.config.surfaceCheckResources,
        deepCheckCount: ctx.config.deepCheckCount,
        ...(summary.watermark ? { asOf: summary.watermark } : {}),
      },
      ctx.now(),
    );
    await recordOutcome(ctx.ledger, msg.migrationId, msg.runId, {
      type: 'VerificationCompleted',
      at: ctx.now().toISOString(),
      data: forLedger(outcome),
    });
    log.info({ ok: outcome.ok }, 'verification completed');
  } catch (err) {
    const reason = reasonOf(err);
    await recordOutcome(ctx.ledger, msg.migrationId, msg.runId, {
      type: 'VerificationFailed',
      at: ctx.now().toISOString(),
      data: { reason },
    });
    log.warn({ reason }, 'verification failed');
  }
}
