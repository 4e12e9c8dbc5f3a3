/** `fhir-migrate plan`: the windows a run would plan from the source's counts — a dry run that writes nothing. */
import { nextCountedWindow } from '@fhir-migrate/planner/src/next-window.ts';
import { earliestLastUpdated, type SourceContext } from '@fhir-migrate/shared/application/source-queries.ts';
import { iso } from '@fhir-migrate/shared/domain/window.ts';

export interface PlannedWindow {
  since: string;
  till: string;
  count: number;
  /** How many times the window was halved to get under chunkLimit. */
  splits: number;
}

export async function dryRunPlan(
  ctx: SourceContext,
  now: Date,
  maxWindows = 1000,
): Promise<{ startAt?: string; windows: PlannedWindow[] }> {
  const start = ctx.config.startDate ? Date.parse(ctx.config.startDate) : await earliestLastUpdated(ctx);
  if (start === undefined) return { windows: [] };
  const windows: PlannedWindow[] = [];
  let watermark = start;
  while (windows.length < maxWindows) {
    const previous = windows[windows.length - 1];
    const hint = previous
      ? { widthMs: Date.parse(previous.till) - Date.parse(previous.since), count: previous.count }
      : undefined;
    const next = await nextCountedWindow(ctx, watermark, now.getTime(), hint);
    if (!next) break;
    windows.push({
      since: iso(next.window.since),
      till: iso(next.window.till),
      count: next.count,
      splits: next.splits,
    });
    watermark = next.window.till;
  }
  return { startAt: iso(start), windows };
}
