import { describe, expect, it } from 'vitest';
import type { ChunkEvent, ChunkEventData } from '../contracts/events.ts';
import { type ChunkCommand, type ChunkState, decide, evolve, foldChunk, initialChunkState } from './chunk.ts';
import { DomainError } from './errors.ts';

const at = '2026-01-01T00:00:00.000Z';
const plan: ChunkEventData<'ChunkPlanned'> = {
  chunkId: 'c000001',
  index: 1,
  since: '2025-01-01T00:00:00.000Z',
  till: '2025-01-31T00:00:00.000Z',
  expectedCount: 3,
};
const exportResult: ChunkEventData<'ExportCompleted'> = {
  files: [
    {
      type: 'Patient',
      key: 'm/c000001/Patient-1.ndjson',
      sourceUrl: 'http://s/Binary/1',
      lines: 2,
      bytes: 10,
      sha256: 'ab',
    },
  ],
  exported: { Patient: 3 },
  staged: { Patient: 2 },
  rejected: [{ type: 'Patient', file: 'm/c000001/Patient-1.ndjson', line: 3, reason: 'invalid-json' }],
  outOfWindow: 0,
  deletions: [],
};
const importResult: ChunkEventData<'ImportCompleted'> = {
  imported: { Patient: 1 },
  failed: { Patient: 1 },
  failures: [],
  deletesApplied: 0,
};

const commands = {
  Plan: { type: 'Plan', at, ...plan },
  StartExport: { type: 'StartExport', at, statusUrl: 'http://s/$export-poll-status?_jobId=1' },
  CompleteExport: { type: 'CompleteExport', at, result: exportResult },
  FailExport: { type: 'FailExport', at, reason: 'HTTP 500', retryable: true, maxAttempts: 3 },
  StartImport: { type: 'StartImport', at, mode: 'bulk', jobUrl: 'http://d/$import-poll-status?_jobId=9' },
  CompleteImport: { type: 'CompleteImport', at, result: importResult },
  FailImport: { type: 'FailImport', at, reason: 'HTTP 503', retryable: true, maxAttempts: 3 },
  Verify: { type: 'Verify', at, deepChecked: 2, mismatches: [] },
  Retry: { type: 'Retry', at, requestedBy: 'operator' },
} satisfies Record<ChunkCommand['type'], ChunkCommand>;

/** given a history of commands, when a command, then events. */
function given(...history: ChunkCommand[]): ChunkState {
  return history.reduce((state, command) => decide(command, state).reduce(evolve, state), initialChunkState);
}
const types = (events: ChunkEvent[]) => events.map((e) => e.type);

const states: Record<string, ChunkState> = {
  initial: given(),
  planned: given(commands.Plan),
  skipped: given({ ...commands.Plan, expectedCount: 0 }),
  exporting: given(commands.Plan, commands.StartExport),
  exported: given(commands.Plan, commands.StartExport, commands.CompleteExport),
  importing: given(commands.Plan, commands.StartExport, commands.CompleteExport, commands.StartImport),
  imported: given(
    commands.Plan,
    commands.StartExport,
    commands.CompleteExport,
    commands.StartImport,
    commands.CompleteImport,
  ),
  verified: given(
    commands.Plan,
    commands.StartExport,
    commands.CompleteExport,
    commands.StartImport,
    commands.CompleteImport,
    commands.Verify,
  ),
  failed: given(commands.Plan, commands.StartExport, { ...commands.FailExport, retryable: false }),
};

/** Expected outcome of every command in every state: event types, [] (already applied), or 'illegal'. */
const table: Record<string, Record<ChunkCommand['type'], string[] | 'illegal'>> = {
  initial: {
    Plan: ['ChunkPlanned'],
    StartExport: 'illegal',
    CompleteExport: 'illegal',
    FailExport: 'illegal',
    StartImport: 'illegal',
    CompleteImport: 'illegal',
    FailImport: 'illegal',
    Verify: 'illegal',
    Retry: 'illegal',
  },
  planned: {
    Plan: [],
    StartExport: ['ExportStarted'],
    CompleteExport: 'illegal',
    FailExport: ['ExportFailed'],
    StartImport: 'illegal',
    CompleteImport: 'illegal',
    FailImport: 'illegal',
    Verify: 'illegal',
    Retry: 'illegal',
  },
  skipped: {
    Plan: [],
    StartExport: 'illegal',
    CompleteExport: 'illegal',
    FailExport: 'illegal',
    StartImport: 'illegal',
    CompleteImport: 'illegal',
    FailImport: 'illegal',
    Verify: 'illegal',
    Retry: 'illegal',
  },
  exporting: {
    Plan: [],
    StartExport: [],
    CompleteExport: ['ExportCompleted'],
    FailExport: ['ExportFailed'],
    StartImport: 'illegal',
    CompleteImport: 'illegal',
    FailImport: 'illegal',
    Verify: 'illegal',
    Retry: 'illegal',
  },
  exported: {
    Plan: [],
    StartExport: 'illegal',
    CompleteExport: [],
    FailExport: 'illegal',
    StartImport: ['ImportStarted'],
    CompleteImport: 'illegal',
    FailImport: ['ImportFailed'],
    Verify: 'illegal',
    Retry: 'illegal',
  },
  importing: {
    Plan: [],
    StartExport: 'illegal',
    CompleteExport: [],
    FailExport: 'illegal',
    StartImport: [],
    CompleteImport: ['ImportCompleted'],
    FailImport: ['ImportFailed'],
    Verify: 'illegal',
    Retry: 'illegal',
  },
  imported: {
    Plan: [],
    StartExport: 'illegal',
    CompleteExport: [],
    FailExport: 'illegal',
    StartImport: 'illegal',
    CompleteImport: [],
    FailImport: 'illegal',
    Verify: ['ChunkVerified'],
    Retry: 'illegal',
  },
  verified: {
    Plan: [],
    StartExport: 'illegal',
    CompleteExport: [],
    FailExport: 'illegal',
    StartImport: 'illegal',
    CompleteImport: [],
    FailImport: 'illegal',
    Verify: [],
    Retry: 'illegal',
  },
  failed: {
    Plan: [],
    StartExport: 'illegal',
    CompleteExport: 'illegal',
    FailExport: 'illegal',
    StartImport: 'illegal',
    CompleteImport: 'illegal',
    FailImport: 'illegal',
    Verify: 'illegal',
    Retry: ['ChunkRetried'],
  },
};

describe('chunk decider: every command in every state', () => {
  for (const [stateName, row] of Object.entries(table)) {
    for (const [commandName, expected] of Object.entries(row)) {
      it(`${stateName} + ${commandName} → ${expected === 'illegal' ? 'ILLEGAL_TRANSITION' : `[${expected.join(', ')}]`}`, () => {
        const state = states[stateName] as ChunkState;
        const command = commands[commandName as ChunkCommand['type']];
        if (expected === 'illegal') {
          expect(() => decide(command, state)).toThrow(DomainError);
          expect(() => decide(command, state)).toThrow(/cannot/);
        } else {
          expect(types(decide(command, state))).toEqual(expected);
        }
      });
    }
  }
  it('the states above are the ones their names say', () => {
    for (const [name, state] of Object.entries(states)) expect(state.status).toBe(name);
  });
});

describe('chunk decider: redelivery of every command is harmless', () => {
  const path: ChunkCommand[] = [
    commands.Plan,
    commands.StartExport,
    commands.CompleteExport,
    commands.StartImport,
    commands.CompleteImport,
    commands.Verify,
  ];
  path.forEach((command, i) => {
    it(`${command.type} decided again after it was applied yields no events`, () => {
      const state = given(...path.slice(0, i + 1));
      expect(decide(command, state)).toEqual([]);
    });
  });
});

describe('chunk decider: lifecycle details', () => {
  it('an empty window is planned and skipped in one decision', () => {
    expect(types(decide({ ...commands.Plan, expectedCount: 0 }, states.initial as ChunkState))).toEqual([
      'ChunkPlanned',
      'ChunkSkipped',
    ]);
  });

  it('a second plan for the same chunk id with another window is illegal', () => {
    expect(() =>
      decide({ ...commands.Plan, till: '2025-02-01T00:00:00.000Z' }, states.planned as ChunkState),
    ).toThrow(DomainError);
  });

  it('a failed export goes back to planned with its attempt counted, and gives up at maxAttempts', () => {
    let state = given(commands.Plan, commands.StartExport, commands.FailExport);
    expect(state.status).toBe('planned');
    expect(state.exportAttempts).toBe(1);
    expect(state.lastReason).toBe('HTTP 500');
    state = given(
      commands.Plan,
      commands.StartExport,
      commands.FailExport,
      commands.StartExport,
      commands.FailExport,
      commands.StartExport,
    );
    expect(state.exportAttempts).toBe(3);
    const events = decide(commands.FailExport, state);
    expect(types(events)).toEqual(['ExportFailed', 'ChunkFailed']);
    expect(events[1]?.data).toEqual({ stage: 'export', reason: 'gave up after 3 attempts: HTTP 500' });
  });

  it('a kick-off that failed before any status URL counts as an attempt', () => {
    const events = decide(commands.FailExport, states.planned as ChunkState);
    expect(events[0]?.data).toMatchObject({ attempt: 1 });
  });

  it('a non-retryable failure fails the chunk at once', () => {
    expect(
      types(decide({ ...commands.FailImport, retryable: false }, states.importing as ChunkState)),
    ).toEqual(['ImportFailed', 'ChunkFailed']);
  });

  it('a failed import goes back to exported and forgets the job', () => {
    const state = given(
      commands.Plan,
      commands.StartExport,
      commands.CompleteExport,
      commands.StartImport,
      commands.FailImport,
    );
    expect(state.status).toBe('exported');
    expect(state.jobUrl).toBeUndefined();
    expect(state.importAttempts).toBe(1);
  });

  it('verification fails the chunk when resources are unaccounted for', () => {
    const state = given(commands.Plan, commands.StartExport, commands.CompleteExport, commands.StartImport, {
      ...commands.CompleteImport,
      result: { ...importResult, imported: { Patient: 0 } },
    });
    const events = decide(commands.Verify, state);
    expect(types(events)).toEqual(['ChunkFailed']);
    expect(events[0]?.data).toEqual({ stage: 'verify', reason: 'Patient: staged 2 ≠ imported 0 + failed 1' });
  });

  it('verification fails the chunk on a deep-check mismatch', () => {
    const events = decide(
      {
        ...commands.Verify,
        mismatches: [{ type: 'Patient', id: 'p1', reason: 'differs at name[0].family' }],
      },
      states.imported as ChunkState,
    );
    expect(events[0]).toMatchObject({
      type: 'ChunkFailed',
      data: { stage: 'verify', reason: 'deep check: Patient/p1 differs at name[0].family' },
    });
  });

  it('retry re-opens an export failure at planned and an import failure at exported', () => {
    const afterExport = given(
      commands.Plan,
      commands.StartExport,
      { ...commands.FailExport, retryable: false },
      commands.Retry,
    );
    expect(afterExport).toMatchObject({ status: 'planned', exportAttempts: 0 });
    const afterImport = given(
      commands.Plan,
      commands.StartExport,
      commands.CompleteExport,
      commands.StartImport,
      { ...commands.FailImport, retryable: false },
      commands.Retry,
    );
    expect(afterImport).toMatchObject({ status: 'exported', importAttempts: 0 });
  });

  it('folding the recorded events gives the same state as deciding step by step', () => {
    const history: ChunkEvent[] = [];
    let state = initialChunkState;
    for (const command of [
      commands.Plan,
      commands.StartExport,
      commands.CompleteExport,
      commands.StartImport,
      commands.CompleteImport,
      commands.Verify,
    ] as ChunkCommand[]) {
      const events = decide(command, state);
      history.push(...events);
      state = events.reduce(evolve, state);
    }
    expect(foldChunk(history)).toEqual(state);
    expect(state.status).toBe('verified');
  });
});
