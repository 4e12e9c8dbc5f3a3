/**
 * `fhir-migrate verify`: surface check always; `--deep N` a reproducible sample compared canonically;
 * `--full` every (type, id, content hash) on both servers, `--fix` to repair, `--delete-extra` to remove
 * extras. With a state file, each run is also recorded in the ledger (the API and dashboard show it).
 * Exit code 0 only when every check is clean.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { FhirClient } from '@fhir-migrate/shared/adapters/fhir-http/client.ts';
import { reasonOf } from '@fhir-migrate/shared/application/errors.ts';
import { newRunId, recordRequest } from '@fhir-migrate/shared/application/verifications.ts';
import type { VerificationRequest } from '@fhir-migrate/shared/contracts/verification-events.ts';
import type { Ledger } from '@fhir-migrate/shared/ports/ledger.ts';
import type { Progress } from '@fhir-migrate/verifier/src/checks/types.ts';
import { runAndRecord } from '@fhir-migrate/verifier/src/record-run.ts';
import type { RunDefaults, VerificationOutcome } from '@fhir-migrate/verifier/src/verification-run.ts';
import { renderOutcome } from './verify-report.ts';

export interface VerifyTarget {
  source: FhirClient;
  destination: FhirClient;
  /** Present when a state file was given: runs are recorded there. */
  ledger?: Ledger;
  migrationId: string;
  defaults: RunDefaults;
  workDir: string;
}

export interface VerifyFlags {
  deep?: number;
  seed?: number;
  full: boolean;
  fix: boolean;
  deleteExtra: boolean;
  types?: string[];
  filter?: string;
  json: boolean;
  requestedBy: string;
}

export function requestsOf(flags: VerifyFlags): VerificationRequest[] {
  const common = {
    ...(flags.types && flags.types.length > 0 ? { types: flags.types } : {}),
    ...(flags.filter ? { filter: flags.filter } : {}),
  };
  const requests: VerificationRequest[] = [{ kind: 'surface', ...common }];
  if (flags.deep !== undefined)
    requests.push({
      kind: 'deep',
      count: flags.deep,
      ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
      ...common,
    });
  if (flags.full)
    requests.push({
      kind: 'full',
      ...common,
      ...(flags.fix ? { fix: true } : {}),
      ...(flags.deleteExtra ? { deleteExtra: true } : {}),
    });
  return requests;
}

/** Throttled progress lines on stderr for long checks. */
export function progressPrinter(): Progress {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 2000) return;
    last = now;
    process.stderr.write(
      `[verify] ${p.phase}${p.type ? ` ${p.type}` : ''}${p.side ? ` (${p.side})` : ''}: ${p.done}${p.total !== undefined ? `/${p.total}` : ''}\n`,
    );
  };
}

export async function runVerifyRequests(
  target: VerifyTarget,
  requests: readonly VerificationRequest[],
  requestedBy: string,
  onProgress?: Progress,
): Promise<VerificationOutcome[]> {
  mkdirSync(target.workDir, { recursive: true });
  const outcomes: VerificationOutcome[] = [];
  for (const request of requests) {
    const runId = newRunId(new Date());
    if (target.ledger)
      await recordRequest(target.ledger, target.migrationId, runId, request, requestedBy, new Date());
    try {
      outcomes.push(
        await runAndRecord(
          { source: target.source, destination: target.destination, workDir: target.workDir },
          target.ledger
            ? { ledger: target.ledger, migrationId: target.migrationId, runId, by: requestedBy }
            : undefined,
          request,
          target.defaults,
          () => new Date(),
          onProgress,
        ),
      );
    } catch (err) {
      throw new Error(`${request.kind} check failed: ${reasonOf(err)}`);
    }
  }
  return outcomes;
}

export async function verifyCommand(target: VerifyTarget, flags: VerifyFlags): Promise<number> {
  const outcomes = await runVerifyRequests(target, requestsOf(flags), flags.requestedBy, progressPrinter());
  // Each run's outcome holds its own check (surface, deep or full): one report of them all.
  const merged: VerificationOutcome = { ...Object.assign({}, ...outcomes), ok: outcomes.every((o) => o.ok) };
  process.stdout.write(
    flags.json
      ? `${JSON.stringify(merged, null, 2)}\n`
      : `${renderOutcome(merged)}\n${merged.ok ? 'verification: CLEAN' : 'verification: NOT CLEAN'}\n`,
  );
  return merged.ok ? 0 : 1;
}

export const workDirFor = (statePath: string | undefined): string =>
  statePath
    ? join(dirname(resolve(statePath)), '.fhir-migrate-verify')
    : join(process.cwd(), '.fhir-migrate-verify');
