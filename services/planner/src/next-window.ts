/**
 * The next window to plan after `watermark`: the configured length, never past now − safetyLag, halved
 * while the source counts more than chunkLimit. Shared by the planner and the `plan` dry run.
 */
import { decideWindow, nextWindow, type Window, windowPolicy } from '@fhir-migrate/shared/domain/window.ts';
import { countWindow, type SourceContext } from './source-queries.ts';

export interface CountedWindow {
  window: Window;
  count: number;
  /** How many times the window was halved to get under chunkLimit. */
  splits: number;
  /** An empty window cut short by the horizon: nothing to plan yet, the next look starts from the same place. */
  emptyAtHorizon: boolean;
}

export async function nextCountedWindow(
  ctx: SourceContext,
  watermark: number,
  now: number,
): Promise<CountedWindow | undefined> {
  const policy = windowPolicy(ctx.config);
  const horizonWindow = nextWindow(watermark, now, policy);
  if (!horizonWindow) return undefined;
  let window = horizonWindow;
  let count = await countWindow(ctx, window);
  let splits = 0;
  for (;;) {
    const decision = decideWindow(window, count, policy);
    if (decision.action === 'accept') break;
    window = decision.first;
    count = await countWindow(ctx, window);
    splits++;
  }
  const cutByHorizon =
    window.till === horizonWindow.till && horizonWindow.till < watermark + policy.chunkDurationMs;
  return { window, count, splits, emptyAtHorizon: count === 0 && cutByHorizon };
}
