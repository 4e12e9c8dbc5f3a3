/**
 * Never lose a publish: every unfinished chunk's current step is announced again under the same
 * deterministic id it was first announced with. Where the first publish went out, the bus drops the
 * repeat; where a process died between appending the event and publishing it, the step resumes.
 * Run at start-up and whenever the planner looks at the migration.
 */

import { topics } from '../contracts/messages.ts';
import { loadChunks } from './chunk-store.ts';
import type { PipelineContext } from './context.ts';
import { announce, scheduleExportPoll, scheduleImportPoll } from './publish.ts';

export async function reannounceOpenChunks(ctx: PipelineContext): Promise<number> {
  let announced = 0;
  for (const { chunkId, state, lastEventId } of await loadChunks(ctx.ledger, ctx.config.migrationId)) {
    if (!lastEventId) continue;
    switch (state.status) {
      case 'planned':
        await announce(ctx, topics.chunkPlanned, chunkId, lastEventId);
        break;
      case 'exporting':
        if (state.statusUrl) await scheduleExportPoll(ctx, chunkId, state.statusUrl, 0);
        break;
      case 'exported':
        await announce(ctx, topics.exportCompleted, chunkId, lastEventId);
        break;
      case 'importing':
        if (state.jobUrl) await scheduleImportPoll(ctx, chunkId, state.jobUrl, 0);
        break;
      case 'imported':
        await announce(ctx, topics.importCompleted, chunkId, lastEventId);
        break;
      default:
        continue;
    }
    announced++;
  }
  return announced;
}
