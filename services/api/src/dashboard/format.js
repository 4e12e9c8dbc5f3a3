/**
 * Pure helpers of the dashboard: number, time and window formatting, chunk progress, the per-type table
 * rows and one-line summaries of chunk events. Plain ES module (no build step): the browser loads it from
 * /dashboard/format.js and vitest imports it directly. Times are shown in UTC, as the ledger stores them.
 */

/** Chunk statuses in pipeline order, with the words the page shows for them. */
export const chunkStatuses = /** @type {const} */ ([
  ['planned', 'planned'],
  ['exporting', 'exporting'],
  ['exported', 'exported'],
  ['importing', 'importing'],
  ['imported', 'imported'],
  ['verified', 'verified'],
  ['skipped', 'skipped (empty)'],
  ['failed', 'failed'],
]);

const dash = '—';

/**
 * @param {number | undefined | null} n
 * @returns {string} the integer with thousands separators, or a dash when unknown
 */
export function formatCount(n) {
  if (n === undefined || n === null || !Number.isFinite(n)) return dash;
  return Math.round(n).toLocaleString('en-US');
}

/**
 * @param {number | undefined | null} perSecond
 * @returns {string} e.g. "12.5/s", "340/s"
 */
export function formatRate(perSecond) {
  if (perSecond === undefined || perSecond === null || !Number.isFinite(perSecond)) return dash;
  if (perSecond === 0) return '0/s';
  if (perSecond < 0.1) return `${perSecond.toFixed(3)}/s`;
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`;
  return `${formatCount(perSecond)}/s`;
}

/**
 * A duration in the two largest units: "45 s", "3 min 05 s", "2 h 10 min", "4 d 3 h".
 * @param {number | undefined | null} seconds
 * @returns {string}
 */
export function formatDuration(seconds) {
  if (seconds === undefined || seconds === null || !Number.isFinite(seconds)) return dash;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const pad = (/** @type {number} */ v) => String(v).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  return `${formatCount(Math.floor(s / 86_400))} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/**
 * @param {string | number | undefined | null} at an ISO instant or epoch milliseconds
 * @returns {string} "2024-05-01 12:00:03 UTC" (milliseconds only when not zero)
 */
export function formatInstant(at) {
  const ms = toMillis(at);
  if (ms === undefined) return dash;
  const iso = new Date(ms).toISOString();
  const fraction = iso.slice(19, 23) === '.000' ? '' : iso.slice(19, 23);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction} UTC`;
}

/**
 * @param {string | number | undefined | null} at
 * @returns {string} "12:00:03" (UTC)
 */
export function formatClock(at) {
  const ms = toMillis(at);
  return ms === undefined ? dash : new Date(ms).toISOString().slice(11, 19);
}

/**
 * A half-open window, the end written without the parts it shares with the start.
 * @param {string} since
 * @param {string} till
 * @returns {string} e.g. "2024-05-01 12:00:00 → 12:00:02 UTC"
 */
export function formatWindow(since, till) {
  const a = formatInstant(since);
  const b = formatInstant(till);
  if (a === dash || b === dash) return `${since || dash} → ${till || dash}`;
  const start = a.slice(0, -4);
  const end = a.slice(0, 10) === b.slice(0, 10) ? b.slice(11) : b;
  return `${start} → ${end}`;
}

/**
 * @param {string | number | undefined | null} at
 * @returns {number | undefined}
 */
function toMillis(at) {
  if (at === undefined || at === null || at === '') return undefined;
  const ms = typeof at === 'number' ? at : Date.parse(at);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Chunks that are done (verified or an empty window), failed, and in flight.
 * @param {{ total: number, byStatus: Record<string, number | undefined> } | undefined} chunks
 */
export function chunkProgress(chunks) {
  const by = chunks?.byStatus ?? {};
  const n = (/** @type {string} */ k) => by[k] ?? 0;
  const total = chunks?.total ?? 0;
  const done = n('verified') + n('skipped');
  const failed = n('failed');
  return {
    total,
    done,
    failed,
    inFlight: total - done - failed - n('planned'),
    fraction: total > 0 ? done / total : 0,
  };
}

/**
 * @typedef {{ type: string, source: number, destination: number, difference: number }} CountRow
 * @typedef {{ runId: string, kind: string, status: string, completedAt?: string, requestedAt?: string,
 *   surface?: { rows: CountRow[] },
 *   full?: { rows: { type: string, source: number, destination: number, missing: number, extra: number, differing: number }[] } }} RunWithCounts
 */

/**
 * The newest completed run that counted resources on both servers (a surface or a full check).
 * @param {RunWithCounts[] | undefined} runs newest first
 * @returns {RunWithCounts | undefined}
 */
export function latestCountRun(runs) {
  return (runs ?? []).find((r) => r.status === 'completed' && (r.surface?.rows || r.full?.rows));
}

/**
 * @typedef {{ type: string, exported: number, imported: number, failed: number,
 *   source?: number, destination?: number, difference?: number, mismatched: boolean }} TypeRow
 */

/**
 * One row per resource type: the ledger's counts beside the source and destination counts of a check run.
 * A row is mismatched when the counts differ (or a full check found missing, extra or differing resources).
 * @param {Record<string, { exported: number, imported: number, failed: number }> | undefined} perType
 * @param {RunWithCounts | undefined} run
 * @returns {TypeRow[]}
 */
export function typeRows(perType, run) {
  /** @type {Map<string, TypeRow>} */
  const rows = new Map();
  const row = (/** @type {string} */ type) => {
    let r = rows.get(type);
    if (!r) {
      r = { type, exported: 0, imported: 0, failed: 0, mismatched: false };
      rows.set(type, r);
    }
    return r;
  };
  for (const [type, c] of Object.entries(perType ?? {}))
    Object.assign(row(type), { exported: c.exported, imported: c.imported, failed: c.failed });
  if (run?.surface?.rows)
    for (const s of run.surface.rows)
      Object.assign(row(s.type), {
        source: s.source,
        destination: s.destination,
        difference: s.difference,
        mismatched: s.difference !== 0,
      });
  else if (run?.full?.rows)
    for (const f of run.full.rows)
      Object.assign(row(f.type), {
        source: f.source,
        destination: f.destination,
        difference: f.destination - f.source,
        mismatched: f.destination !== f.source || f.missing + f.extra + f.differing > 0,
      });
  return [...rows.values()].sort((a, b) => a.type.localeCompare(b.type));
}

/**
 * Resources imported per second over the last ten minutes of the timeline.
 * @param {{ at: string, imported: number }[]} points one per settled chunk, oldest first
 * @returns {number | undefined} undefined while there is no span of time to divide by
 */
export function recentRate(points) {
  const last = points[points.length - 1];
  if (!last) return undefined;
  const from = points.find((p) => Date.parse(p.at) >= Date.parse(last.at) - 600_000);
  const seconds = from ? (Date.parse(last.at) - Date.parse(from.at)) / 1000 : 0;
  return from && seconds > 0 ? (last.imported - from.imported) / seconds : undefined;
}

/**
 * What a verification run found, in a few words.
 * @param {any} run a VerificationRun
 * @returns {string}
 */
export function runSummary(run) {
  if (run.status === 'failed') return run.error ?? 'failed';
  if (run.status !== 'completed') return run.status;
  const parts = [];
  if (run.surface) {
    const off = run.surface.rows.filter((/** @type {CountRow} */ r) => r.difference !== 0).length;
    const types = run.surface.rows.length;
    parts.push(
      off ? `${off} of ${plural(types, 'type')} differ in count` : `${plural(types, 'type')}, equal counts`,
    );
  }
  if (run.deep)
    parts.push(
      `${plural(run.deep.checked, 'resource')} compared, ${plural(run.deep.mismatches.length, 'mismatch', 'mismatches')}`,
    );
  if (run.full) {
    const t = run.full.totals;
    parts.push(
      `${formatCount(t.source)} on source, ${formatCount(t.matching)} matching, ${formatCount(t.missing)} missing, ` +
        `${formatCount(t.extra)} extra, ${formatCount(t.differing)} differing, ${formatCount(t.pending)} not yet due`,
    );
  }
  return parts.join('; ') || (run.ok ? 'ok' : 'not ok');
}

/**
 * Each thing a run found wrong, one line each (at most 50).
 * @param {any} run a VerificationRun
 * @returns {string[]}
 */
export function runFindings(run) {
  const lines = [];
  for (const r of run.surface?.rows ?? [])
    if (r.difference !== 0)
      lines.push(
        `${r.type}: ${formatCount(r.source)} on source, ${formatCount(r.destination)} on destination`,
      );
  for (const m of run.deep?.mismatches ?? [])
    lines.push(`${m.type}/${m.id}: ${m.kind}${m.paths?.length ? ` (${m.paths.join(', ')})` : ''}`);
  for (const ref of run.full?.missing ?? []) lines.push(`${ref}: missing on destination`);
  for (const ref of run.full?.extra ?? []) lines.push(`${ref}: only on destination`);
  for (const d of run.full?.differing ?? []) lines.push(`${d.ref}: differs (${d.paths.join(', ')})`);
  return lines.slice(0, 50);
}

/**
 * @param {Record<string, number> | undefined} counts
 * @returns {number}
 */
const total = (counts) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);

/**
 * One line saying what a chunk event recorded (the full data is shown beside it on request).
 * @param {string} type
 * @param {any} data
 * @returns {string}
 */
export function describeEvent(type, data) {
  const d = data ?? {};
  switch (type) {
    case 'ChunkPlanned':
      return `window ${formatWindow(d.since, d.till)}, ${formatCount(d.expectedCount)} expected`;
    case 'ChunkSkipped':
      return 'empty window: nothing to export';
    case 'ExportStarted':
      return `export job started (attempt ${d.attempt})`;
    case 'ExportCompleted':
      return (
        `${formatCount(total(d.exported))} exported, ${formatCount(total(d.staged))} staged, ` +
        `${formatCount(d.rejected?.length ?? 0)} rejected, ${plural(d.files?.length ?? 0, 'file')}` +
        (d.outOfWindow ? `, ${formatCount(d.outOfWindow)} outside the window` : '') +
        (d.deletions?.length ? `, ${plural(d.deletions.length, 'deletion')}` : '')
      );
    case 'ExportFailed':
    case 'ImportFailed':
      return `attempt ${d.attempt} failed${d.retryable ? ' (will retry)' : ''}: ${d.reason}`;
    case 'ImportStarted':
      return `${d.mode === 'rest' ? 'REST batches' : 'bulk $import'} started (attempt ${d.attempt})`;
    case 'ImportCompleted':
      return (
        `${formatCount(total(d.imported))} imported, ${formatCount(total(d.failed))} failed` +
        (d.deletesApplied ? `, ${formatCount(d.deletesApplied)} deletes applied` : '')
      );
    case 'ChunkVerified':
      return `verified (${formatCount(d.deepChecked)} resources deep-checked)`;
    case 'ChunkFailed':
      return `failed at ${d.stage}: ${d.reason}`;
    case 'ChunkRetried':
      return `retry requested by ${d.requestedBy}`;
    default: {
      const text = JSON.stringify(d);
      return text.length > 200 ? `${text.slice(0, 199)}…` : text;
    }
  }
}

/**
 * @param {number} n
 * @param {string} word singular
 * @param {string} [words] plural, when not word + "s"
 * @returns {string} "1 file", "3 files"
 */
export const plural = (n, word, words = `${word}s`) => `${formatCount(n)} ${n === 1 ? word : words}`;

/**
 * "1–20 of 143" for a page of a list.
 * @param {number} offset
 * @param {number} count items on this page
 * @param {number} totalItems
 * @returns {string}
 */
export function pageLabel(offset, count, totalItems) {
  if (totalItems === 0 || count === 0) return `0 of ${formatCount(totalItems)}`;
  return `${formatCount(offset + 1)}–${formatCount(offset + count)} of ${formatCount(totalItems)}`;
}

/**
 * Evenly spaced "nice" axis values (1, 2 or 5 times a power of ten) covering [min, max].
 * @param {number} min
 * @param {number} max
 * @param {number} count about how many ticks
 * @returns {number[]}
 */
export function niceTicks(min, max, count) {
  if (!(max > min)) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(v);
  return ticks;
}

/** Time steps for a time axis up to two weeks, in milliseconds; longer axes step in calendar months. */
const timeSteps = [
  1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 10_800e3,
  21_600e3, 43_200e3, 86_400e3, 172_800e3, 604_800e3, 1_209_600e3,
];
const monthSteps = [1, 2, 3, 6, 12, 24, 60, 120];
const monthMs = 30.44 * 86_400e3;

/**
 * Round instants for a time axis over [min, max] (epoch ms), with the label each should carry.
 * @param {number} min
 * @param {number} max
 * @param {number} count about how many ticks
 * @returns {{ at: number, label: string }[]}
 */
export function timeTicks(min, max, count) {
  if (!(max > min)) return [{ at: min, label: formatClock(min) }];
  const raw = (max - min) / Math.max(1, count);
  const ticks = [];
  const step = timeSteps.find((s) => s >= raw);
  if (step === undefined) {
    const months = monthSteps.find((m) => m * monthMs >= raw) ?? 120;
    const first = new Date(min);
    let month = first.getUTCFullYear() * 12 + first.getUTCMonth();
    if (Date.UTC(Math.floor(month / 12), month % 12, 1) < min) month++;
    month = Math.ceil(month / months) * months;
    for (let at = monthStart(month); at <= max; month += months, at = monthStart(month))
      ticks.push({ at, label: new Date(at).toISOString().slice(0, months >= 12 ? 4 : 7) });
    return ticks;
  }
  /** @type {(ms: number) => string} */
  const label =
    step >= 86_400e3
      ? (ms) => new Date(ms).toISOString().slice(0, 10)
      : max - min > 86_400e3
        ? (ms) => new Date(ms).toISOString().slice(5, 16).replace('T', ' ')
        : step >= 60e3
          ? (ms) => new Date(ms).toISOString().slice(11, 16)
          : formatClock;
  for (let at = Math.ceil(min / step) * step; at <= max; at += step) ticks.push({ at, label: label(at) });
  return ticks;
}

/** @param {number} month months since year 0 */
const monthStart = (month) => Date.UTC(Math.floor(month / 12), month % 12, 1);
