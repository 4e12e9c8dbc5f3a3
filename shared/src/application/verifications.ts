/**
 * Verification runs in the ledger: requested (by the CLI or the API), started and completed or failed by
 * whoever carries them out. Each run is its own stream, so runs never contend with chunks or each other.
 */
import { randomBytes } from 'node:crypto';
import { topics, type VerificationRequestedMessage } from '../contracts/messages.ts';
import {
  parseVerificationEvent,
  type VerificationEvent,
  type VerificationKind,
  type VerificationRequest,
} from '../contracts/verification-events.ts';
import type { Bus } from '../ports/bus.ts';
import { type Ledger, LedgerConflictError } from '../ports/ledger.ts';

const prefix = 'verification-';
export const verificationStreamId = (runId: string): string => `${prefix}${runId}`;

/** A sortable, unguessable run id: the request instant plus random bits. */
export function newRunId(now: Date): string {
  return `${now.toISOString().replace(/[-:.]/g, '').replace('Z', '')}-${randomBytes(3).toString('hex')}`;
}

type Completed = Extract<VerificationEvent, { type: 'VerificationCompleted' }>['data'];

export interface VerificationRun {
  runId: string;
  kind: VerificationKind;
  status: 'requested' | 'running' | 'completed' | 'failed';
  request: VerificationRequest;
  requestedAt: string;
  requestedBy: string;
  startedAt?: string;
  completedAt?: string;
  ok?: boolean;
  error?: string;
  surface?: Completed['surface'];
  deep?: Completed['deep'];
  full?: Completed['full'];
}

export async function recordRequest(
  ledger: Ledger,
  migrationId: string,
  runId: string,
  request: VerificationRequest,
  requestedBy: string,
  at: Date,
): Promise<void> {
  await ledger.append(migrationId, verificationStreamId(runId), 0, [
    { type: 'VerificationRequested', at: at.toISOString(), data: { ...request, requestedBy } },
  ]);
}

/** Records the request and asks the verifier service (over the bus) to carry it out. */
export async function requestVerification(
  deps: { ledger: Ledger; bus: Bus },
  migrationId: string,
  request: VerificationRequest,
  requestedBy: string,
  now: Date,
): Promise<string> {
  const runId = newRunId(now);
  await recordRequest(deps.ledger, migrationId, runId, request, requestedBy, now);
  const body: VerificationRequestedMessage = { schemaVersion: 1, migrationId, runId };
  await deps.bus.publish(topics.verificationRequested, [
    { id: `${topics.verificationRequested}:${migrationId}:${runId}`, body },
  ]);
  return runId;
}

/** Appends the run's next event after the ones already there; false if another writer got there first. */
export async function recordOutcome(
  ledger: Ledger,
  migrationId: string,
  runId: string,
  event: Extract<
    VerificationEvent,
    { type: 'VerificationStarted' | 'VerificationCompleted' | 'VerificationFailed' }
  >,
): Promise<boolean> {
  const stream = verificationStreamId(runId);
  const existing = await ledger.readStream(migrationId, stream);
  if (existing.length === 0)
    throw new Error(`verification run ${runId} of ${migrationId} was never requested`);
  try {
    await ledger.append(migrationId, stream, existing.length, [event]);
    return true;
  } catch (err) {
    if (err instanceof LedgerConflictError) return false;
    throw err;
  }
}

export async function loadVerification(
  ledger: Ledger,
  migrationId: string,
  runId: string,
): Promise<VerificationRun | undefined> {
  const events = await ledger.readStream(migrationId, verificationStreamId(runId));
  return foldRun(runId, events);
}

/** Every run of a migration, newest first. */
export async function listVerifications(ledger: Ledger, migrationId: string): Promise<VerificationRun[]> {
  const runs: VerificationRun[] = [];
  for (const { streamId } of await ledger.listStreams(migrationId, prefix)) {
    const run = foldRun(streamId.slice(prefix.length), await ledger.readStream(migrationId, streamId));
    if (run) runs.push(run);
  }
  return runs.sort((a, b) => (a.runId < b.runId ? 1 : -1));
}

function foldRun(
  runId: string,
  raw: readonly { type: string; at: string; data: unknown }[],
): VerificationRun | undefined {
  let run: VerificationRun | undefined;
  for (const e of raw.map(parseVerificationEvent)) {
    switch (e.type) {
      case 'VerificationRequested': {
        const { requestedBy, ...request } = e.data;
        run = { runId, kind: request.kind, status: 'requested', request, requestedAt: e.at, requestedBy };
        break;
      }
      case 'VerificationStarted':
        if (run) Object.assign(run, { status: 'running', startedAt: e.at });
        break;
      case 'VerificationCompleted':
        if (run)
          Object.assign(run, {
            status: 'completed',
            completedAt: e.at,
            ok: e.data.ok,
            ...(e.data.surface ? { surface: e.data.surface } : {}),
            ...(e.data.deep ? { deep: e.data.deep } : {}),
            ...(e.data.full ? { full: e.data.full } : {}),
          });
        break;
      case 'VerificationFailed':
        if (run) Object.assign(run, { status: 'failed', completedAt: e.at, ok: false, error: e.data.reason });
        break;
    }
  }
  return run;
}
