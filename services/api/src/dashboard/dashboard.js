/**
 * The live dashboard: polls the API every 2 s and updates the page in place (scroll position, open
 * drill-downs and the typed API key survive). Everything that comes from the API is inserted as text
 * (textContent, text nodes, attribute values) — failure reasons quote remote servers. The API key stays in
 * sessionStorage and travels only in the authorization header of the control requests.
 */

import { drawChart } from './chart.js';
import {
  chunkProgress,
  chunkStatuses,
  describeEvent,
  formatClock,
  formatCount,
  formatDuration,
  formatInstant,
  formatRate,
  formatWindow,
  latestCountRun,
  niceTicks,
  pageLabel,
  recentRate,
  runFindings,
  runSummary,
  timeTicks,
  typeRows,
} from './format.js';

const pollMs = 2000;
const keyStorage = 'fhir-migrate.api-key';
const maxOpenChunks = 5;

const state = {
  /** @type {any} */ info: undefined,
  /** @type {any} */ summary: undefined,
  /** @type {any[]} */ timeline: [],
  /** @type {any[] | undefined} */ runs: undefined,
  /** @type {any[] | undefined} */ deadLetters: undefined,
  /** A paged list; `follow` keeps it on its newest page as it grows. */
  failures: { offset: 0, limit: 20, follow: false, type: '', /** @type {any} */ data: undefined },
  chunks: { offset: 0, limit: 20, follow: true, status: '', /** @type {any} */ data: undefined },
  /** Open drill-downs: chunk id → its events (or the error that kept them away), in the order opened. */
  /** @type {Map<string, { events?: any[], error?: string }>} */ open: new Map(),
  /** Event data the reader expanded, as `chunkId:seq`. */
  /** @type {Set<string>} */ expanded: new Set(),
  /** @type {number | undefined} */ updatedAt: undefined,
  /** @type {unknown} */ error: undefined,
  /** @type {Record<string, string>} */ unavailable: {},
  /** What each part was last drawn from, to leave unchanged parts (and the focus inside them) alone. */
  /** @type {Record<string, string>} */ drawn: {},
};

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

// ---------------------------------------------------------------------------------------------------------
// DOM helpers: text only, never markup.

/**
 * @param {string} tag
 * @param {Record<string, unknown>} [props] `class`, `text`, or attributes
 * @param {...(Node | string | null | undefined | false | (Node | string)[])} children
 * @returns {HTMLElement}
 */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = String(value);
    else if (key === 'text') node.textContent = String(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child || child === '') node.append(child);
  return node;
}

/** @param {string} chunkId */
const chunkButton = (chunkId) =>
  el(
    'button',
    { type: 'button', class: 'link', 'data-chunk': chunkId, title: 'Show its event history' },
    chunkId,
  );

/** @param {string} status */
const statusBadge = (status) => el('span', { class: `status status-${status}` }, status);

/** @param {number | undefined} n */
const num = (n) => el('td', { class: 'num' }, formatCount(n));

/**
 * Puts rows into a table body, or one row with a message when there are none.
 * @param {HTMLElement} tbody
 * @param {HTMLElement[]} rows
 * @param {string} empty
 */
function fillBody(tbody, rows, empty) {
  const columns = tbody.closest('table')?.querySelectorAll('thead th').length ?? 1;
  tbody.replaceChildren(
    ...(rows.length ? rows : [el('tr', { class: 'empty' }, el('td', { colspan: columns }, empty))]),
  );
}

/**
 * Runs draw() only when its input changed since the last time (keeps focus and selection in place).
 * @param {string} part
 * @param {unknown} input
 * @param {() => void} draw
 */
function drawIfChanged(part, input, draw) {
  const key = JSON.stringify(input) ?? '';
  if (state.drawn[part] === key) return;
  state.drawn[part] = key;
  draw();
}

// ---------------------------------------------------------------------------------------------------------
// API access.

class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{ title?: string, detail?: string }} problem
   */
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/**
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<any>}
 */
async function api(path, init = {}) {
  const response = await fetch(path, {
    cache: 'no-store',
    ...init,
    headers: { accept: 'application/json', ...init.headers },
  });
  const text = await response.text();
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok)
    throw new ApiError(
      response.status,
      body && typeof body === 'object' ? body : { title: response.statusText },
    );
  return body;
}

/** @param {unknown} error */
function describeError(error) {
  if (error instanceof ApiError) {
    const { title, detail } = error.problem;
    return `${title || 'Error'} (HTTP ${error.status})${detail ? `: ${detail}` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * A part of the API this page can do without: its error is noted beside the part instead of the banner.
 * @template T
 * @param {string} part
 * @param {Promise<T>} request
 * @returns {Promise<T | undefined>}
 */
async function optional(part, request) {
  try {
    const value = await request;
    delete state.unavailable[part];
    return value;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    state.unavailable[part] = describeError(error);
    return undefined;
  }
}

const base = () => `/api/migrations/${encodeURIComponent(state.info.migrationId)}`;

async function refresh() {
  if (!state.info) state.info = await api('/api/info');
  const b = base();
  const f = state.failures;
  const c = state.chunks;
  const failureQuery = new URLSearchParams({ offset: String(f.offset), limit: String(f.limit) });
  if (f.type) failureQuery.set('type', f.type);
  /** @param {number} offset */
  const chunkPage = (offset) => {
    const query = new URLSearchParams({ offset: String(offset), limit: String(c.limit) });
    if (c.status) query.set('status', c.status);
    return optional('chunks', api(`${b}/chunks?${query}`));
  };
  if (c.follow && c.data) c.offset = Math.max(0, c.data.total - c.limit);
  const openIds = [...state.open.keys()];
  const [summary, timeline, runs, failures, chunks, deadLetters, ...events] = await Promise.all([
    // Before the migration starts the summary says started: false.
    api(b),
    optional('timeline', api(`${b}/timeline`)),
    optional('verifications', api(`${b}/verifications`)),
    optional('failures', api(`${b}/failures?${failureQuery}`)),
    chunkPage(c.offset),
    optional(
      'deadLetters',
      api(`/api/dead-letters?${new URLSearchParams({ migrationId: state.info.migrationId })}`),
    ),
    ...openIds.map((id) =>
      api(`${b}/chunks/${encodeURIComponent(id)}/events`).then(
        (list) => ({ events: Array.isArray(list) ? list : [] }),
        (error) => {
          if (error instanceof ApiError) return { error: describeError(error) };
          throw error;
        },
      ),
    ),
  ]);
  state.summary = summary;
  state.timeline = timeline?.points ?? [];
  state.runs = runs?.items;
  f.data = failures;
  c.data = chunks;
  // Following the newest chunks and the list grew (or this is the first look): fetch its newest page.
  if (c.follow && chunks && chunks.total - c.limit > c.offset) {
    c.offset = chunks.total - c.limit;
    c.data = await chunkPage(c.offset);
  }
  state.deadLetters = deadLetters?.items;
  openIds.forEach((id, i) => {
    if (state.open.has(id)) state.open.set(id, events[i] ?? {});
  });
}

// ---------------------------------------------------------------------------------------------------------
// Rendering.

function render() {
  const s = state.summary;
  if (!state.info || !s) return;
  renderHeader(s);
  renderCards(s);
  renderHalted(s);
  renderCharts();
  drawIfChanged('types', [s.perType, latestCountRun(state.runs)], () => renderTypes(s));
  renderRunning(s);
  drawIfChanged(
    'failures',
    [state.failures.data, state.failures.follow, state.unavailable.failures],
    renderFailures,
  );
  drawIfChanged('failureTypes', Object.keys(s.perType ?? {}), () => renderFailureTypes(s));
  drawIfChanged('chunks', [state.chunks.data, state.chunks.follow, state.unavailable.chunks], renderChunks);
  drawIfChanged('drilldown', [...state.open.entries()], renderDrilldown);
  drawIfChanged('verifications', [state.runs, state.unavailable.verifications], renderVerifications);
  drawIfChanged('deadLetters', [state.deadLetters, state.unavailable.deadLetters], renderDeadLetters);
  renderControls(s);
}

/** @param {any} s */
function renderHeader(s) {
  const info = state.info;
  $('migration-id').textContent = info.migrationId;
  $('source-url').textContent = s.sourceUrl ?? info.sourceUrl ?? '—';
  $('destination-url').textContent = s.destinationUrl ?? info.destinationUrl ?? '—';
  $('version').textContent = info.version ? `fhir-migrate ${info.version}` : '';
  const control = s.started ? (s.control ?? 'running') : 'not started';
  const badge = $('control');
  badge.textContent = control;
  badge.className = `badge badge-${control.replace(' ', '-')}`;
  $('watermark').textContent = formatInstant(s.watermark);
  $('watermark').title = s.watermark ?? '';
  $('lag').textContent = formatDuration(s.lagSeconds);
  $('not-started').hidden = !!s.started;
  const progress = chunkProgress(s.chunks);
  document.title = `${info.migrationId}: ${s.started ? `${Math.floor(progress.fraction * 100)}% of chunks` : 'not started'} · fhir-migrate`;
}

/** @param {any} s */
function renderCards(s) {
  const progress = chunkProgress(s.chunks);
  $('chunks-done').textContent = formatCount(progress.done);
  $('chunks-total').textContent = formatCount(progress.total);
  const byStatus = s.chunks?.byStatus ?? {};
  const present = chunkStatuses.filter(([key]) => byStatus[key]);
  drawIfChanged('chunkBar', byStatus, () => {
    $('chunks-bar').replaceChildren(
      ...present.map(([key]) => {
        // Through the CSSOM: the Content-Security-Policy forbids style attributes.
        const segment = el('span', { class: `seg seg-${key}`, title: `${key}: ${byStatus[key]}` });
        segment.style.flexGrow = String(byStatus[key]);
        return segment;
      }),
    );
    $('chunks-legend').replaceChildren(
      ...(present.length
        ? present.map(([key, label]) =>
            el(
              'li',
              {},
              el('span', { class: `swatch seg-${key}`, 'aria-hidden': 'true' }),
              `${formatCount(byStatus[key])} ${label}`,
            ),
          )
        : [el('li', {}, 'none planned yet')]),
    );
  });

  const r = s.resources ?? {};
  $('res-exported').textContent = formatCount(r.exported);
  $('res-imported').textContent = formatCount(r.imported);
  $('res-failed').textContent = formatCount(r.failed + (r.rejected ?? 0));
  $('res-failed').classList.toggle('bad', r.failed + (r.rejected ?? 0) > 0);
  const extra = [];
  if (r.rejected) extra.push(`${formatCount(r.rejected)} refused on export`);
  if (r.failed) extra.push(`${formatCount(r.failed)} failed on import`);
  if (r.deletes) extra.push(`${formatCount(r.deletes)} deletes applied`);
  if (r.outOfWindow) extra.push(`${formatCount(r.outOfWindow)} outside their window`);
  const sp = s.searchParameters;
  if (sp)
    extra.push(
      `SearchParameters: ${formatCount(sp.copied)} copied${sp.failures ? `, ${formatCount(sp.failures)} failed` : ''}, reindex ${sp.reindex}`,
    );
  $('res-extra').textContent = extra.join('\n');

  $('rate').textContent = formatRate(s.resourcesPerSecond);
  const caughtUp =
    s.started && progress.total > 0 && (s.running ?? []).length === 0 && (s.halted ?? []).length === 0;
  $('eta').textContent =
    s.etaSeconds !== undefined ? formatDuration(s.etaSeconds) : caughtUp ? 'caught up' : '—';
  const recent = recentRate(state.timeline);
  $('rate-extra').textContent = [
    'average since the start',
    recent !== undefined ? `last 10 min: ${formatRate(recent)}` : '',
    s.etaSeconds === undefined && !caughtUp && s.started
      ? 'time to catch up known once the watermark gains on the clock'
      : '',
  ]
    .filter(Boolean)
    .join(' · ');

  renderLastVerification(s.lastVerification);

  const dead = state.deadLetters;
  $('dead-count').textContent = dead ? formatCount(dead.length) : '—';
  $('dead-count').classList.toggle('bad', !!dead?.length);
  $('dead-extra').textContent = state.unavailable.deadLetters
    ? `unavailable: ${state.unavailable.deadLetters}`
    : dead?.length
      ? 'messages the pipeline gave up on: see below'
      : 'no messages given up on';
}

/** @param {any} run */
function renderLastVerification(run) {
  const result = $('verify-result');
  const extra = $('verify-extra');
  if (!run) {
    result.textContent = 'none yet';
    result.className = 'big muted';
    extra.textContent = 'Run a surface check to compare counts on both servers.';
    return;
  }
  const ok = run.status === 'completed' && run.ok;
  result.textContent = run.status === 'failed' ? 'could not run' : ok ? 'OK' : 'not OK';
  result.className = `big ${ok ? 'good' : 'bad'}`;
  extra.textContent = `${run.kind} check, ${formatInstant(run.completedAt ?? run.requestedAt)}: ${runSummary(run)}`;
}

/** @param {any} s */
function renderHalted(s) {
  const halted = s.halted ?? [];
  $('halted').hidden = halted.length === 0;
  drawIfChanged('halted', halted, () =>
    $('halted-list').replaceChildren(
      ...halted.map((/** @type {any} */ h) =>
        el('li', {}, chunkButton(h.chunkId), ' ', el('span', {}, h.reason)),
      ),
    ),
  );
}

/** @param {any} s */
function renderTypes(s) {
  const run = latestCountRun(state.runs);
  const rows = typeRows(s.perType, run);
  const table = $('per-type');
  fillBody(
    /** @type {HTMLElement} */ (table.querySelector('tbody')),
    rows.map((r) =>
      el(
        'tr',
        { class: r.mismatched ? 'mismatch' : undefined },
        el('th', { scope: 'row' }, r.type),
        num(r.exported),
        num(r.imported),
        el('td', { class: r.failed ? 'num bad' : 'num' }, formatCount(r.failed)),
        num(r.source),
        num(r.destination),
        el(
          'td',
          { class: r.mismatched ? 'num bad' : 'num' },
          r.difference === undefined ? '—' : `${r.difference > 0 ? '+' : ''}${formatCount(r.difference)}`,
          r.mismatched ? el('span', { class: 'flag' }, ' differs') : '',
        ),
      ),
    ),
    'No resources migrated yet.',
  );
  const totals = rows.reduce(
    (t, r) => ({
      exported: t.exported + r.exported,
      imported: t.imported + r.imported,
      failed: t.failed + r.failed,
    }),
    { exported: 0, imported: 0, failed: 0 },
  );
  /** @type {HTMLElement} */ (table.querySelector('tfoot')).replaceChildren(
    ...(rows.length > 1
      ? [
          el(
            'tr',
            {},
            el('th', { scope: 'row' }, 'Total'),
            num(totals.exported),
            num(totals.imported),
            num(totals.failed),
            el('td', { colspan: 3 }),
          ),
        ]
      : []),
  );
  $('per-type-caption').textContent = run
    ? `Exported, imported and failed from the ledger; source and destination counted by the ${run.kind} check of ${formatInstant(run.completedAt)} (destination − source; resources written after the watermark are not migrated yet).`
    : 'Exported, imported and failed from the ledger. Run a surface check to count each type on both servers.';
}

/** @param {any} s */
function renderRunning(s) {
  const rows = (s.running ?? []).map((/** @type {any} */ r) =>
    el(
      'tr',
      {},
      el('td', {}, chunkButton(r.chunkId)),
      el('td', {}, statusBadge(r.status)),
      el('td', { class: 'window' }, formatWindow(r.since, r.till)),
      num(r.expectedCount),
      el('td', { class: 'num' }, formatDuration(r.ageSeconds)),
    ),
  );
  fillBody(
    /** @type {HTMLElement} */ ($('running').querySelector('tbody')),
    rows,
    s.started ? 'Nothing in flight: waiting for new writes on the source.' : 'Not started.',
  );
}

function renderFailures() {
  const data = state.failures.data;
  const tbody = /** @type {HTMLElement} */ ($('failures').querySelector('tbody'));
  $('failures-total').textContent = data ? `(${formatCount(data.total)})` : '';
  if (!data) {
    fillBody(tbody, [], `Unavailable: ${state.unavailable.failures ?? 'loading'}`);
    renderPager('failures', state.failures, 0, 0);
    return;
  }
  const rows = data.items.map((/** @type {any} */ f) =>
    el(
      'tr',
      {},
      el('td', {}, chunkButton(f.chunkId)),
      el('td', {}, f.stage),
      el('td', { class: 'ref' }, f.type ? `${f.type}/${f.id ?? '?'}` : (f.id ?? '—')),
      el('td', { class: 'ref' }, f.file ? `${f.file}${f.line ? `:${f.line}` : ''}` : '—'),
      el('td', { class: 'reason' }, f.reason),
    ),
  );
  fillBody(tbody, rows, 'Every resource so far was migrated.');
  renderPager('failures', state.failures, data.items.length, data.total);
}

/** @param {any} s */
function renderFailureTypes(s) {
  const select = /** @type {HTMLSelectElement} */ ($('failures-type'));
  const types = Object.keys(s.perType ?? {}).sort();
  if (state.failures.type && !types.includes(state.failures.type)) types.push(state.failures.type);
  select.replaceChildren(
    el('option', { value: '' }, 'all'),
    ...types.map((t) => el('option', { value: t }, t)),
  );
  select.value = state.failures.type;
}

function renderChunks() {
  const data = state.chunks.data;
  const tbody = /** @type {HTMLElement} */ ($('chunks').querySelector('tbody'));
  $('chunks-count').textContent = data ? `(${formatCount(data.total)})` : '';
  if (!data) {
    fillBody(tbody, [], `Unavailable: ${state.unavailable.chunks ?? 'loading'}`);
    renderPager('chunks', state.chunks, 0, 0);
    return;
  }
  const rows = data.items.map((/** @type {any} */ c) =>
    el(
      'tr',
      { class: c.status === 'failed' ? 'mismatch' : undefined },
      el('td', {}, chunkButton(c.chunkId)),
      el('td', { class: 'window' }, formatWindow(c.since, c.till)),
      el('td', {}, statusBadge(c.status)),
      num(c.expectedCount),
      num(c.staged),
      num(c.imported),
      el('td', { class: c.failed ? 'num bad' : 'num' }, formatCount(c.failed)),
      el('td', { class: 'reason' }, c.reason ?? ''),
    ),
  );
  fillBody(tbody, rows, state.chunks.status ? `No ${state.chunks.status} chunks.` : 'No chunks planned yet.');
  renderPager('chunks', state.chunks, data.items.length, data.total);
}

/**
 * @param {'failures' | 'chunks'} list
 * @param {{ offset: number, limit: number, follow?: boolean }} page
 * @param {number} count
 * @param {number} total
 */
function renderPager(list, page, count, total) {
  const nav = /** @type {HTMLElement} */ (document.querySelector(`nav[data-list="${list}"]`));
  const last = Math.max(0, total - page.limit);
  /** @type {(label: string, offset: number, disabled: boolean) => HTMLElement} */
  const button = (label, offset, disabled) =>
    el('button', { type: 'button', 'data-page': list, 'data-offset': offset, disabled }, label);
  const follow = !!page.follow;
  nav.replaceChildren(
    button('First', 0, page.offset === 0),
    button('Previous', Math.max(0, page.offset - page.limit), page.offset === 0),
    el(
      'span',
      { class: 'page-label' },
      pageLabel(page.offset, count, total),
      follow ? ' · newest, following' : '',
    ),
    button('Next', Math.min(last, page.offset + page.limit), page.offset + page.limit >= total),
    button('Last', last, page.offset >= last && follow),
  );
  nav.hidden = total <= page.limit && page.offset === 0;
}

function renderDrilldown() {
  const panels = [...state.open.entries()].map(([chunkId, entry]) => {
    const close = el('button', { type: 'button', class: 'close', 'data-close': chunkId }, 'Close');
    const head = el(
      'div',
      { class: 'panel-head' },
      el('h2', { id: `events-${chunkId}` }, `Events of ${chunkId}`),
      close,
    );
    if (!entry.events)
      return el(
        'section',
        { class: 'panel', 'aria-labelledby': `events-${chunkId}`, 'data-chunk-panel': chunkId },
        head,
        el('p', {}, entry.error ? `Unavailable: ${entry.error}` : 'Loading…'),
      );
    const rows = entry.events.map((/** @type {any} */ e) => {
      const key = `${chunkId}:${e.seq}`;
      const details = el(
        'details',
        { 'data-expand': key, open: state.expanded.has(key) },
        el('summary', {}, 'data'),
        el('pre', {}, JSON.stringify(e.data, null, 2)),
      );
      return el(
        'tr',
        { class: /Failed$/.test(e.type) ? 'mismatch' : undefined },
        el('td', { class: 'num' }, String(e.seq)),
        el('td', { class: 'nowrap' }, formatInstant(e.at)),
        el('td', {}, e.type),
        el('td', { class: 'reason' }, describeEvent(e.type, e.data)),
        el('td', {}, details),
      );
    });
    const table = el(
      'table',
      {},
      el('caption', { class: 'visually-hidden' }, `Event history of ${chunkId}, oldest first`),
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['#', 'At', 'Event', 'What happened', 'Data'].map((h) =>
            el('th', { scope: 'col', class: h === '#' ? 'num' : undefined }, h),
          ),
        ),
      ),
      el('tbody'),
    );
    fillBody(/** @type {HTMLElement} */ (table.querySelector('tbody')), rows, 'No events.');
    return el(
      'section',
      { class: 'panel', 'aria-labelledby': `events-${chunkId}`, 'data-chunk-panel': chunkId },
      head,
      el('div', { class: 'scroll' }, table),
    );
  });
  $('drilldown').replaceChildren(...panels);
}

function renderVerifications() {
  const runs = state.runs;
  const tbody = /** @type {HTMLElement} */ ($('verifications').querySelector('tbody'));
  if (!runs) {
    fillBody(tbody, [], `Unavailable: ${state.unavailable.verifications ?? 'loading'}`);
    return;
  }
  const rows = runs.slice(0, 10).map((/** @type {any} */ run) => {
    const ok = run.status === 'completed' && run.ok;
    const result = el('td', { class: 'reason' });
    if (run.status === 'completed' || run.status === 'failed')
      result.append(
        el(
          'strong',
          { class: ok ? 'good' : 'bad' },
          ok ? 'OK' : run.status === 'failed' ? 'could not run:' : 'not OK',
        ),
        ' ',
      );
    result.append(runSummary(run));
    const findings = runFindings(run);
    if (findings.length)
      result.append(
        el(
          'details',
          { 'data-expand': `run:${run.runId}`, open: state.expanded.has(`run:${run.runId}`) },
          el('summary', {}, `${findings.length} findings`),
          el('ul', { class: 'findings' }, ...findings.map((f) => el('li', {}, f))),
        ),
      );
    return el(
      'tr',
      {},
      el('td', { class: 'nowrap', title: run.runId }, formatInstant(run.requestedAt)),
      el('td', {}, run.kind),
      el('td', {}, run.requestedBy ?? ''),
      el('td', {}, statusBadge(run.status)),
      result,
    );
  });
  fillBody(tbody, rows, 'No verification runs yet.');
}

function renderDeadLetters() {
  const items = state.deadLetters;
  const tbody = /** @type {HTMLElement} */ ($('dead-letters').querySelector('tbody'));
  if (!items) {
    fillBody(tbody, [], `Unavailable: ${state.unavailable.deadLetters ?? 'loading'}`);
    return;
  }
  fillBody(
    tbody,
    items.map((/** @type {any} */ d) =>
      el(
        'tr',
        {},
        el('td', { class: 'nowrap' }, formatInstant(d.deadLetteredAt)),
        el('td', {}, d.topic),
        el('td', {}, d.subscription),
        el('td', { class: 'ref' }, d.id),
        num(d.deliveryCount),
        el('td', { class: 'reason' }, d.reason),
      ),
    ),
    'None.',
  );
}

/** @param {any} s */
function renderControls(s) {
  const control = s.started ? s.control : undefined;
  const busy = $('controls').dataset.busy === 'true';
  /** @type {HTMLButtonElement} */ ($('btn-pause')).disabled = busy || control !== 'running';
  /** @type {HTMLButtonElement} */ ($('btn-resume')).disabled = busy || !control || control === 'running';
  /** @type {HTMLButtonElement} */ ($('btn-stop')).disabled = busy || !control || control === 'stopped';
  /** @type {HTMLButtonElement} */ ($('btn-surface')).disabled = busy || !s.started;
}

function renderStatusLine() {
  const banner = $('banner');
  document.documentElement.dataset.state = state.error ? 'error' : state.updatedAt ? 'ready' : 'loading';
  if (state.updatedAt) {
    $('updated').textContent = `${formatClock(state.updatedAt)} UTC`;
    document.documentElement.dataset.updated = new Date(state.updatedAt).toISOString();
  }
  if (!state.error) {
    banner.hidden = true;
    return;
  }
  banner.hidden = false;
  banner.textContent =
    state.error instanceof ApiError
      ? `The API answered with an error: ${describeError(state.error)}. Retrying every 2 seconds.`
      : `Cannot reach the fhir-migrate API (${describeError(state.error)}). ` +
        (state.updatedAt
          ? `The figures below are from ${formatClock(state.updatedAt)} UTC; retrying every 2 seconds.`
          : 'Retrying every 2 seconds.');
}

// ---------------------------------------------------------------------------------------------------------
// Charts: step lines in inline SVG, sized to their box.

/** The server's clock, from the watermark and its lag when known (the browser's clock may be off). */
function serverNow() {
  const s = state.summary;
  if (s?.watermark && typeof s.lagSeconds === 'number') return Date.parse(s.watermark) + s.lagSeconds * 1000;
  return Date.now();
}

function renderCharts() {
  const points = state.timeline;
  const s = state.summary;
  const now = Math.max(serverNow(), ...points.map((p) => Date.parse(p.at)));
  const first = points[0];
  // From the migration's start (wall clock) when known, else from the first settled chunk.
  const startedAt = s?.startedAt ? Date.parse(s.startedAt) : undefined;
  const x0 = Math.min(startedAt ?? (first ? Date.parse(first.at) : now - 60_000), now - 10_000);
  const xDomain = /** @type {[number, number]} */ ([x0, now]);
  const last = points[points.length - 1];
  const startAt = s?.startAt ? Date.parse(s.startAt) : first ? Date.parse(first.watermark) : now - 60_000;

  const wm = points.map((p) => ({ x: Date.parse(p.at), y: Date.parse(p.watermark) }));
  if (last) wm.push({ x: now, y: Date.parse(last.watermark) });
  const low = Math.min(startAt, ...wm.map((p) => p.y));
  const high = Math.max(low + 1000, ...wm.map((p) => p.y));
  // From the start to now while the migrated part is a visible share of it; zoomed in on the progress otherwise
  // (years of history, an hour of watching), with how far now is written at the top.
  const zoom = (high - low) / Math.max(1, now - low) < 0.15;
  drawChart($('chart-watermark'), {
    points: wm,
    xDomain,
    yDomain: zoom ? [low, high + (high - low) * 0.1] : [low, Math.max(now, high)],
    yTicks: (min, max, n) => timeTicks(min, max, n),
    reference: zoom
      ? { label: `now: ${formatDuration((now - high) / 1000)} above`, points: [] }
      : {
          label: 'now',
          points: [
            { x: xDomain[0], y: xDomain[0] },
            { x: now, y: now },
          ],
        },
    empty: s?.started ? 'No chunk settled yet.' : 'Not started.',
  });
  $('chart-watermark-desc').textContent = last
    ? `The watermark moved from ${formatInstant(first?.watermark)} to ${formatInstant(last.watermark)} between ${formatInstant(first?.at)} and ${formatInstant(last.at)}.`
    : 'No settled chunks yet.';

  const im = points.map((p) => ({ x: Date.parse(p.at), y: p.imported }));
  if (last) im.push({ x: now, y: last.imported });
  const top = Math.max(10, ...im.map((p) => p.y));
  drawChart($('chart-imported'), {
    points: im,
    xDomain,
    yDomain: [0, top * 1.08],
    yTicks: (min, max, n) =>
      niceTicks(min, max, n)
        .filter((v) => Number.isInteger(v))
        .map((v) => ({ at: v, label: formatCount(v) })),
    area: true,
    empty: s?.started ? 'No chunk settled yet.' : 'Not started.',
  });
  $('chart-imported-desc').textContent = last
    ? `${formatCount(last.imported)} resources imported by ${formatInstant(last.at)}.`
    : 'No settled chunks yet.';
}

// ---------------------------------------------------------------------------------------------------------
// Controls.

const keyInput = /** @type {HTMLInputElement} */ ($('api-key'));

/**
 * @param {string} text
 * @param {'ok' | 'error' | ''} kind
 */
function say(text, kind) {
  const message = $('control-message');
  message.textContent = text;
  message.className = `control-message ${kind}`;
}

/** @param {string} action pause, resume, stop or surface */
async function act(action) {
  const key = keyInput.value.trim();
  if (!key) {
    say('Type the API key first: the buttons change the migration.', 'error');
    keyInput.focus();
    return;
  }
  if (
    action === 'stop' &&
    !window.confirm('Stop the migration? Exports and imports stop after the current step.')
  )
    return;
  const form = $('controls');
  form.dataset.busy = 'true';
  if (state.summary) renderControls(state.summary);
  try {
    const surface = action === 'surface';
    const body = await api(surface ? `${base()}/verifications` : `${base()}/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(surface ? { kind: 'surface' } : {}),
    });
    say(
      surface
        ? `Surface check requested${body?.runId ? ` (run ${body.runId})` : ''}: its result appears under Verification runs.`
        : `${action[0]?.toUpperCase()}${action.slice(1)} requested${body?.control ? `: the migration is now ${body.control}` : ''}.`,
      'ok',
    );
  } catch (error) {
    say(
      `${action === 'surface' ? 'Surface check' : action[0]?.toUpperCase() + action.slice(1)} refused: ${describeError(error)}`,
      'error',
    );
  } finally {
    form.dataset.busy = 'false';
    await tick();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Wiring.

/** @param {string} chunkId */
function openChunk(chunkId) {
  if (!state.open.has(chunkId)) {
    state.open.set(chunkId, {});
    while (state.open.size > maxOpenChunks)
      state.open.delete(/** @type {string} */ (state.open.keys().next().value));
  }
  render();
  const panel = document.querySelector(`[data-chunk-panel="${CSS.escape(chunkId)}"]`);
  panel?.scrollIntoView({ behavior: 'smooth', block: 'start' });
  void tick();
}

document.addEventListener('click', (event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  const chunk = target.closest('[data-chunk]');
  if (chunk) return openChunk(/** @type {string} */ (chunk.getAttribute('data-chunk')));
  const close = target.closest('[data-close]');
  if (close) {
    state.open.delete(/** @type {string} */ (close.getAttribute('data-close')));
    return render();
  }
  const pageButton = /** @type {HTMLButtonElement | null} */ (target.closest('[data-page]'));
  if (pageButton) {
    const list = pageButton.dataset.page === 'chunks' ? state.chunks : state.failures;
    list.offset = Number(pageButton.dataset.offset);
    list.follow = pageButton.textContent === 'Last';
    return void tick();
  }
  const action = /** @type {HTMLButtonElement | null} */ (target.closest('[data-action]'));
  if (action?.dataset.action) void act(action.dataset.action);
});

// Which event data and findings the reader expanded, so a redraw keeps them open.
document.addEventListener(
  'toggle',
  (event) => {
    const details = /** @type {HTMLDetailsElement} */ (event.target);
    const key = details.dataset?.expand;
    if (!key) return;
    if (details.open) state.expanded.add(key);
    else state.expanded.delete(key);
  },
  true,
);

$('failures-type').addEventListener('change', (event) => {
  state.failures.type = /** @type {HTMLSelectElement} */ (event.target).value;
  state.failures.offset = 0;
  void tick();
});

const statusSelect = /** @type {HTMLSelectElement} */ ($('chunks-status'));
statusSelect.append(...chunkStatuses.map(([key, label]) => el('option', { value: key }, label)));
statusSelect.addEventListener('change', () => {
  state.chunks.status = statusSelect.value;
  state.chunks.offset = 0;
  void tick();
});

keyInput.value = sessionStorage.getItem(keyStorage) ?? '';
keyInput.addEventListener('input', () => {
  if (keyInput.value) sessionStorage.setItem(keyStorage, keyInput.value);
  else sessionStorage.removeItem(keyStorage);
});
$('controls').addEventListener('submit', (event) => event.preventDefault());

let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => state.summary && renderCharts(), 150);
});

/** One poll; overlapping calls share the one in progress. */
/** @type {Promise<void> | undefined} */
let inFlight;
function tick() {
  inFlight ??= (async () => {
    try {
      await refresh();
      state.error = undefined;
      state.updatedAt = Date.now();
      render();
    } catch (error) {
      state.error = error;
      console.warn('dashboard poll failed', error);
    }
    renderStatusLine();
  })().finally(() => {
    inFlight = undefined;
  });
  return inFlight;
}

async function loop() {
  await tick();
  window.setTimeout(loop, pollMs);
}
void loop();
