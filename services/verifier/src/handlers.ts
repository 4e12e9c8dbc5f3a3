/**
 * The verifier: once a chunk is applied, proves it — exported = staged + rejected and staged = imported +
 * failed per type (the decider checks the accounting), plus a deep check of sampled resources.
 */
import { executeChunk, loadChunk } from '@fhir-migrate/shared/application/chunk-store.ts';
import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { announce } from '@fhir-migrate/shared/application/publish.ts';
import { type ChunkMessage, topics } from '@fhir-migrate/shared/contracts/messages.ts';
import { crashPoint } from '@fhir-migrate/shared/runtime/crash-point.ts';
import { withChunkSpan } from '@fhir-migrate/shared/runtime/tracing.ts';
import { deepCheck } from './deep-check.ts';

export async function onImportCompleted(ctx: PipelineContext, msg: ChunkMessage): Promise<void> {
  const { state } = await loadChunk(ctx.ledger, msg.migrationId, msg.chunkId);
  if (state.status !== 'imported') return;
  const { checked, mismatches } = await withChunkSpan('verifier deep check', msg, () =>
    deepCheck(ctx, state, ctx.config.deepCheckCount),
  );
  crashPoint('verification');
  const result = await executeChunk(ctx.ledger, msg.migrationId, msg.chunkId, (s) =>
    s.status === 'imported'
      ? { type: 'Verify', at: ctx.now().toISOString(), deepChecked: checked, mismatches }
      : undefined,
  );
  const event = result.appended[0];
  if (!event) return;
  if (result.after.status === 'failed')
    ctx.log.error(
      { chunkId: msg.chunkId, reason: result.after.failure?.reason },
      'chunk failed verification',
    );
  else ctx.log.info({ chunkId: msg.chunkId, deepChecked: checked }, 'chunk verified');
  await announce(ctx, topics.chunkVerified, msg.chunkId, event.id);
}
