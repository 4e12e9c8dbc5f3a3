/**
 * Operator controls: pause (plan no new chunks; chunks in flight finish), resume (plan again at once) and
 * stop (plan nothing more, for good). Recorded on the migration's own stream; the planner reads them.
 */
import { topics } from '../contracts/messages.ts';
import type { MigrationEvent } from '../contracts/migration-events.ts';
import type { Bus } from '../ports/bus.ts';
import { type Ledger, LedgerConflictError } from '../ports/ledger.ts';
import { loadMigrationEvents, migrationStreamId } from './chunk-store.ts';

export type ControlAction = 'pause' | 'resume' | 'stop';
export type ControlState = 'running' | 'paused' | 'stopped';

export class ControlError extends Error {
  readonly code: 'NOT_STARTED' | 'STOPPED';
  constructor(code: 'NOT_STARTED' | 'STOPPED', message: string) {
    super(message);
    this.name = 'ControlError';
    this.code = code;
  }
}

export function controlStateOf(events: readonly MigrationEvent[]): ControlState {
  const last = [...events]
    .reverse()
    .find(
      (e) => e.type === 'MigrationPaused' || e.type === 'MigrationResumed' || e.type === 'MigrationStopped',
    );
  return last?.type === 'MigrationPaused'
    ? 'paused'
    : last?.type === 'MigrationStopped'
      ? 'stopped'
      : 'running';
}

const eventOf = { pause: 'MigrationPaused', resume: 'MigrationResumed', stop: 'MigrationStopped' } as const;
const resulting = { pause: 'paused', resume: 'running', stop: 'stopped' } as const;

/**
 * Applies `action` and returns the resulting state. Idempotent: pausing a paused migration records
 * nothing. A stopped migration stays stopped (start a new migration id instead).
 */
export async function applyControl(
  deps: { ledger: Ledger; bus: Bus },
  migrationId: string,
  action: ControlAction,
  by: string,
  now: Date,
): Promise<ControlState> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const events = await loadMigrationEvents(deps.ledger, migrationId);
    if (!events.some((e) => e.type === 'MigrationStarted'))
      throw new ControlError('NOT_STARTED', `migration ${migrationId} has not started`);
    const current = controlStateOf(events);
    if (current === resulting[action]) return current;
    if (current === 'stopped')
      throw new ControlError('STOPPED', `migration ${migrationId} is stopped; it cannot be ${action}d`);
    const event: MigrationEvent = { type: eventOf[action], at: now.toISOString(), data: { by } };
    try {
      await deps.ledger.append(migrationId, migrationStreamId, events.length, [event]);
    } catch (err) {
      if (err instanceof LedgerConflictError) continue;
      throw err;
    }
    if (action === 'resume')
      await deps.bus.publish(topics.planTick, [
        {
          id: `${topics.planTick}:resume:${migrationId}:${events.length + 1}`,
          body: { schemaVersion: 1, migrationId, reason: 'resume' },
        },
      ]);
    return resulting[action];
  }
  throw new Error(`migration ${migrationId}: control kept conflicting with other writers`);
}
