/**
 * Carrying out one verification run — surface, deep or full (optionally repairing) — for the CLI and for
 * the verifier service. The full report goes back to the caller; the ledger keeps a bounded copy.
 */
import type { VerificationRequest } from '@fhir-migrate/shared/contracts/verification-events.ts';
import { fullReconcile, type ReconcileReport } from './checks/reconcile.ts';
import { type RepairReport, repair } from './checks/repair.ts';
import { type DeepReport, deepSample } from './checks/sample.ts';
import { type SurfaceReport, surfaceCheck } from './checks/surface.ts';
import type { CheckDeps, CheckScope, Progress } from './checks/types.ts';

export interface VerificationOutcome {
  ok: boolean;
  surface?: SurfaceReport;
  deep?: DeepReport;
  full?: ReconcileReport & { repair?: RepairReport };
}

export interface RunDefaults {
  /** The migration's types (empty = every type on the source). */
  resourceTypes: readonly string[];
  /** Types the surface check counts (the seed tool's SurfaceCheckResources); empty = resourceTypes. */
  surfaceCheckResources: readonly string[];
  deepCheckCount: number;
  /** The migration's watermark: source resources updated at or after it are not due yet. */
  asOf?: string;
}

/** Default sampling seed: the same for every run of a day, so a rerun checks the same resources. */
export const defaultSeed = (now: Date): number => Number(now.toISOString().slice(0, 10).replace(/-/g, ''));

export async function runVerification(
  deps: CheckDeps,
  request: VerificationRequest,
  defaults: RunDefaults,
  now: Date,
  onProgress?: Progress,
): Promise<VerificationOutcome> {
  const types =
    request.types && request.types.length > 0
      ? request.types
      : request.kind === 'surface' && defaults.surfaceCheckResources.length > 0
        ? defaults.surfaceCheckResources
        : defaults.resourceTypes;
  const scope: CheckScope = { types: [...types], ...(request.filter ? { filter: request.filter } : {}) };
  switch (request.kind) {
    case 'surface': {
      const surface = await surfaceCheck(deps, scope, onProgress);
      return { ok: surface.ok, surface };
    }
    case 'deep': {
      const deep = await deepSample(
        deps,
        {
          ...scope,
          count: request.count ?? defaults.deepCheckCount,
          seed: request.seed ?? defaultSeed(now),
          ...(defaults.asOf ? { asOf: defaults.asOf } : {}),
        },
        onProgress,
      );
      return { ok: deep.ok, deep };
    }
    case 'full': {
      const full = await fullReconcile(
        deps,
        { ...scope, ...(defaults.asOf ? { asOf: defaults.asOf } : {}) },
        onProgress,
      );
      if (!request.fix || full.ok) return { ok: full.ok, full };
      const repaired = await repair(deps, full, { deleteExtra: request.deleteExtra === true });
      return { ok: false, full: { ...full, repair: repaired } };
    }
  }
}

const cap = <T>(list: readonly T[], n = 100): T[] => list.slice(0, n);

/** The bounded copy of an outcome that the ledger keeps (lists capped at 100 entries each). */
export function forLedger(outcome: VerificationOutcome) {
  const { surface, deep, full } = outcome;
  return {
    ok: outcome.ok,
    ...(surface ? { surface: { rows: surface.rows, ok: surface.ok, durationMs: surface.durationMs } } : {}),
    ...(deep
      ? {
          deep: {
            seed: deep.seed,
            checked: deep.checked,
            pending: deep.pending,
            perType: deep.perType,
            mismatches: cap(deep.mismatches),
            ok: deep.ok,
            durationMs: deep.durationMs,
          },
        }
      : {}),
    ...(full
      ? {
          full: {
            rows: full.rows,
            totals: full.totals,
            missing: cap(full.missing),
            extra: cap(full.extra),
            differing: cap(full.differing),
            pending: cap(full.pending),
            truncated:
              full.truncated ||
              [full.missing, full.extra, full.differing, full.pending].some((l) => l.length > 100),
            ok: full.ok,
            durationMs: full.durationMs,
            ...(full.asOf ? { asOf: full.asOf } : {}),
            ...(full.repair ? { repair: { ...full.repair, failures: cap(full.repair.failures) } } : {}),
          },
        }
      : {}),
  };
}
