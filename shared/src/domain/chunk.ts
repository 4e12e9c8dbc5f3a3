/**
 * The chunk lifecycle as a pure decider: state = fold(evolve, initialChunkState, events);
 * decide(command, state) → events. No I/O, no clock: time arrives in the command.
 *
 *   initial ─Plan→ planned ─StartExport→ exporting ─CompleteExport→ exported ─StartImport→ importing
 *   ─CompleteImport→ imported ─Verify→ verified.   Plan with 0 resources → skipped.
 *   Failures go back one step to be tried again, until attempts run out → failed; Retry re-opens it.
 *
 * Commands that were already applied (a redelivered message) decide no events; commands that make no
 * sense in the current state throw DomainError('ILLEGAL_TRANSITION').
 */
import type { ChunkEvent, ChunkEventData, ResourceIssue } from '../contracts/events.ts';
import { DomainError } from './errors.ts';

export const chunkStatuses = [
  'initial',
  'planned',
  'skipped',
  'exporting',
  'exported',
  'importing',
  'imported',
  'verified',
  'failed',
] as const;

export type ChunkStatus = (typeof chunkStatuses)[number];

export interface ChunkState {
  status: ChunkStatus;
  plan?: ChunkEventData<'ChunkPlanned'>;
  /** When the chunk was planned (its first event). */
  plannedAt?: string;
  exportAttempts: number;
  importAttempts: number;
  statusUrl?: string;
  /** When the running $export or $import job was started (for the job timeout). */
  jobStartedAt?: string;
  exportResult?: ChunkEventData<'ExportCompleted'>;
  importMode?: 'bulk' | 'rest';
  jobUrl?: string;
  importResult?: ChunkEventData<'ImportCompleted'>;
  failure?: ChunkEventData<'ChunkFailed'>;
  lastReason?: string;
}

export const initialChunkState: ChunkState = { status: 'initial', exportAttempts: 0, importAttempts: 0 };

export function evolve(state: ChunkState, event: ChunkEvent): ChunkState {
  switch (event.type) {
    case 'ChunkPlanned':
      return { ...state, status: 'planned', plan: event.data, plannedAt: event.at };
    case 'ChunkSkipped':
      return { ...state, status: 'skipped' };
    case 'ExportStarted':
      return {
        ...state,
        status: 'exporting',
        statusUrl: event.data.statusUrl,
        jobStartedAt: event.at,
        exportAttempts: event.data.attempt,
      };
    case 'ExportCompleted':
      return { ...state, status: 'exported', exportResult: event.data };
    case 'ExportFailed': {
      const { statusUrl: _dropped, ...rest } = state;
      return {
        ...rest,
        status: 'planned',
        exportAttempts: event.data.attempt,
        lastReason: event.data.reason,
      };
    }
    case 'ImportStarted': {
      const next: ChunkState = {
        ...state,
        status: 'importing',
        importMode: event.data.mode,
        importAttempts: event.data.attempt,
        jobStartedAt: event.at,
      };
      if (event.data.jobUrl) next.jobUrl = event.data.jobUrl;
      else delete next.jobUrl;
      return next;
    }
    case 'ImportCompleted':
      return { ...state, status: 'imported', importResult: event.data };
    case 'ImportFailed': {
      const { jobUrl: _dropped, ...rest } = state;
      return {
        ...rest,
        status: 'exported',
        importAttempts: event.data.attempt,
        lastReason: event.data.reason,
      };
    }
    case 'ChunkVerified':
      return { ...state, status: 'verified' };
    case 'ChunkFailed':
      return { ...state, status: 'failed', failure: event.data, lastReason: event.data.reason };
    case 'ChunkRetried': {
      const stage = state.failure?.stage ?? 'export';
      const { failure: _f, statusUrl: _s, jobUrl: _j, ...rest } = state;
      return stage === 'export'
        ? { ...rest, status: 'planned', exportAttempts: 0 }
        : { ...rest, status: 'exported', importAttempts: 0 };
    }
  }
}

export function foldChunk(events: readonly ChunkEvent[]): ChunkState {
  return events.reduce(evolve, initialChunkState);
}

/** Every command carries the instant it is decided at. */
interface At {
  at: string;
}

export type ChunkCommand =
  | ({ type: 'Plan' } & At & ChunkEventData<'ChunkPlanned'>)
  | ({ type: 'StartExport'; statusUrl: string } & At)
  | ({ type: 'CompleteExport'; result: ChunkEventData<'ExportCompleted'> } & At)
  | ({ type: 'FailExport'; reason: string; retryable: boolean; maxAttempts: number } & At)
  | ({ type: 'StartImport'; mode: 'bulk' | 'rest'; jobUrl?: string } & At)
  | ({ type: 'CompleteImport'; result: ChunkEventData<'ImportCompleted'> } & At)
  | ({ type: 'FailImport'; reason: string; retryable: boolean; maxAttempts: number } & At)
  | ({ type: 'Verify'; deepChecked: number; mismatches: ResourceIssue[] } & At)
  | ({ type: 'Retry'; requestedBy: string } & At);

const after = (order: ChunkStatus[], status: ChunkStatus, than: ChunkStatus) =>
  order.indexOf(status) > order.indexOf(than);
const lifecycle: ChunkStatus[] = [
  'initial',
  'planned',
  'exporting',
  'exported',
  'importing',
  'imported',
  'verified',
];

function illegal(command: ChunkCommand, state: ChunkState): never {
  const chunk = state.plan ? ` (chunk ${state.plan.chunkId})` : '';
  throw new DomainError(
    'ILLEGAL_TRANSITION',
    `cannot ${command.type} a chunk that is ${state.status}${chunk}`,
  );
}

export function decide(command: ChunkCommand, state: ChunkState): ChunkEvent[] {
  const at = command.at;
  switch (command.type) {
    case 'Plan': {
      const { type: _t, at: _a, ...plan } = command;
      if (state.status !== 'initial') {
        const same =
          state.plan?.chunkId === plan.chunkId &&
          state.plan.since === plan.since &&
          state.plan.till === plan.till;
        if (same) return [];
        return illegal(command, state);
      }
      const planned: ChunkEvent = { type: 'ChunkPlanned', at, data: plan };
      return plan.expectedCount === 0
        ? [planned, { type: 'ChunkSkipped', at, data: { reason: 'empty' } }]
        : [planned];
    }
    case 'StartExport':
      if (state.status === 'exporting' && state.statusUrl === command.statusUrl) return [];
      if (state.status !== 'planned') return illegal(command, state);
      return [
        {
          type: 'ExportStarted',
          at,
          data: { statusUrl: command.statusUrl, attempt: state.exportAttempts + 1 },
        },
      ];
    case 'CompleteExport':
      if (state.status !== 'failed' && after(lifecycle, state.status, 'exporting')) return [];
      if (state.status !== 'exporting') return illegal(command, state);
      return [{ type: 'ExportCompleted', at, data: command.result }];
    case 'FailExport': {
      if (state.status !== 'exporting' && state.status !== 'planned') return illegal(command, state);
      const attempt = state.status === 'exporting' ? state.exportAttempts : state.exportAttempts + 1;
      return withGiveUp(
        { type: 'ExportFailed', at, data: { reason: command.reason, attempt, retryable: command.retryable } },
        'export',
        command,
        attempt,
      );
    }
    case 'StartImport':
      if (
        state.status === 'importing' &&
        state.importMode === command.mode &&
        state.jobUrl === command.jobUrl
      )
        return [];
      if (state.status !== 'exported') return illegal(command, state);
      return [
        {
          type: 'ImportStarted',
          at,
          data: {
            mode: command.mode,
            attempt: state.importAttempts + 1,
            ...(command.jobUrl ? { jobUrl: command.jobUrl } : {}),
          },
        },
      ];
    case 'CompleteImport':
      if (state.status === 'imported' || state.status === 'verified') return [];
      if (state.status !== 'importing') return illegal(command, state);
      return [{ type: 'ImportCompleted', at, data: command.result }];
    case 'FailImport': {
      if (state.status !== 'importing' && state.status !== 'exported') return illegal(command, state);
      const attempt = state.status === 'importing' ? state.importAttempts : state.importAttempts + 1;
      return withGiveUp(
        { type: 'ImportFailed', at, data: { reason: command.reason, attempt, retryable: command.retryable } },
        'import',
        command,
        attempt,
      );
    }
    case 'Verify': {
      if (state.status === 'verified') return [];
      if (state.status !== 'imported') return illegal(command, state);
      const problems = accountingProblems(state);
      for (const m of command.mismatches)
        problems.push(`deep check: ${m.type ?? '?'}/${m.id ?? '?'} ${m.reason}`);
      if (problems.length > 0) {
        return [{ type: 'ChunkFailed', at, data: { stage: 'verify', reason: problems.join('; ') } }];
      }
      return [{ type: 'ChunkVerified', at, data: { deepChecked: command.deepChecked } }];
    }
    case 'Retry':
      if (state.status !== 'failed') return illegal(command, state);
      return [{ type: 'ChunkRetried', at, data: { requestedBy: command.requestedBy } }];
  }
}

function withGiveUp(
  failed: ChunkEvent,
  stage: 'export' | 'import',
  command: { reason: string; retryable: boolean; maxAttempts: number; at: string },
  attempt: number,
): ChunkEvent[] {
  if (command.retryable && attempt < command.maxAttempts) return [failed];
  const why = command.retryable ? `gave up after ${attempt} attempts: ${command.reason}` : command.reason;
  return [failed, { type: 'ChunkFailed', at: command.at, data: { stage, reason: why } }];
}

/**
 * Nothing lost: per type, exported = staged + rejected, and staged = imported + failed.
 * Returns the discrepancies in words (empty when every resource is accounted for).
 */
export function accountingProblems(state: ChunkState): string[] {
  const exp = state.exportResult;
  const imp = state.importResult;
  if (!exp || !imp) return ['no export or import result recorded'];
  const problems: string[] = [];
  const rejectedByType: Record<string, number> = {};
  for (const r of exp.rejected) rejectedByType[r.type ?? '?'] = (rejectedByType[r.type ?? '?'] ?? 0) + 1;
  const types = new Set([
    ...Object.keys(exp.exported),
    ...Object.keys(exp.staged),
    ...Object.keys(imp.imported),
    ...Object.keys(imp.failed),
  ]);
  for (const type of [...types].sort()) {
    const exported = exp.exported[type] ?? 0;
    const staged = exp.staged[type] ?? 0;
    const rejected = rejectedByType[type] ?? 0;
    const imported = imp.imported[type] ?? 0;
    const failed = imp.failed[type] ?? 0;
    if (exported !== staged + rejected)
      problems.push(`${type}: exported ${exported} ≠ staged ${staged} + rejected ${rejected}`);
    if (staged !== imported + failed)
      problems.push(`${type}: staged ${staged} ≠ imported ${imported} + failed ${failed}`);
  }
  return problems;
}

/** A chunk is done when the pipeline may move past it. */
export const isSettled = (s: ChunkState): boolean => s.status === 'verified' || s.status === 'skipped';
/** Imported (or beyond): the next chunk may be imported after it. */
export const isApplied = (s: ChunkState): boolean => s.status === 'imported' || isSettled(s);
