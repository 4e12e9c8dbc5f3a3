import type { PipelineContext } from '@fhir-migrate/shared/application/context.ts';
import { reannounceOpenChunks } from '@fhir-migrate/shared/application/recovery.ts';
import { chunkMessage, planTickMessage, topics } from '@fhir-migrate/shared/contracts/messages.ts';
import { handler } from '@fhir-migrate/shared/runtime/service.ts';
import { ensureStarted, type PlannerStatus, planMore } from './handlers.ts';

export { ensureStarted, type PlannerStatus, planMore };

/** The planner reacts to progress anywhere in the pipeline; `onStatus` lets a runner see where it stands. */
export function plannerHandlers(onStatus: (status: PlannerStatus) => void = () => {}) {
  const plan = async (ctx: PipelineContext) => {
    onStatus(await planMore(ctx));
    // Resume any step whose announcement was lost (repeats of announcements that went out are dropped).
    await reannounceOpenChunks(ctx);
  };
  return [
    handler(topics.planTick, planTickMessage, plan),
    handler(topics.exportCompleted, chunkMessage, plan),
    handler(topics.importCompleted, chunkMessage, plan),
    handler(topics.chunkVerified, chunkMessage, plan),
  ];
}
