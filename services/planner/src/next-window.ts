/**
 * The next window to plan after `watermark`: at most the configured length (see firstWidthMs), never past
 * now − safetyLag, halved while the source counts more than chunkLimit. Shared by the planner and the `plan` dry run.
 */

import { countWindow, type SourceContext } from '@fhir-migrate/shared/application/source-queries.ts';
import {
  decideWindow,
  nextWindow,
  type Window,
  type WindowPolicy,
  windowPolicy,
} from '@fhir-migrate/shared/domain/window.ts';

export interface CountedWindow {
  window: Window;
  count: number;
  /** How many times the window was halved to get under chunkLimit. */
  splits: number;
  /** An empty window cut short by the horizon: nothing to plan yet, the next look starts from the same place. */
  emptyAtHorizon: boolean;
}

/** The window planned last: where the next one starts counting from. */
export interface WindowHint {
  widthMs: number;
  count: number;
}

/**
 * The width to count first: the last window's, doubled when it held under half the limit, never past
 * chunkDuration; chunkDuration without a hint. On dense data this costs one count per window instead of one
 * per halving from chunkDuration (1 billion resources over 10 years at the defaults: 7 halvings a window).
 */
export function firstWidthMs(policy: WindowPolicy, hint?: WindowHint): number {
  if (!hint || hint.widthMs <= 0) return policy.chunkDurationMs;
  const width = hint.count < policy.chunkLimit / 2 ? hint.widthMs * 2 : hint.widthMs;
  return Math.min(policy.chunkDurationMs, Math.max(policy.minWindowMs, width));
}

export async function nextCountedWindow(
  ctx: SourceContext,
  watermark: number,
  now: number,
  hint?: WindowHint,
): Promise<CountedWindow | undefined> {
  const configured = windowPolicy(ctx.config);
  const policy = { ...configured, chunkDurationMs: firstWidthMs(configured, hint) };
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
