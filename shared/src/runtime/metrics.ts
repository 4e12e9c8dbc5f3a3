/**
 * The pipeline's metrics (meter `fhir-migrate`), recorded from the ledger facts a call appended — so a
 * redelivered message, which appends nothing, counts nothing twice. The names are queried by the Azure
 * workbook (customMetrics): change them there too. Without a registered SDK the instruments are no-ops.
 */
import { type Attributes, type Counter, type Histogram, metrics } from '@opentelemetry/api';
import { reasonOf } from '../application/errors.ts';
import { parseChunkEvent } from '../contracts/events.ts';
import type { ChunkState } from '../domain/chunk.ts';
import type { StoredEvent } from '../ports/ledger.ts';
import { activeService } from './tracing.ts';

export const metricNames = {
  exported: 'fhir_migrate.resources.exported',
  imported: 'fhir_migrate.resources.imported',
  failed: 'fhir_migrate.resources.failed',
  jobs: 'fhir_migrate.jobs',
  chunkDuration: 'fhir_migrate.chunk.duration',
  lag: 'fhir_migrate.lag',
  verification: 'fhir_migrate.verification.resources',
} as const;

/** A deep-checked resource: equal, different, absent on the destination, or changed on the source since. */
export type VerificationResult = 'match' | 'mismatch' | 'missing' | 'superseded';

interface Instruments {
  exported: Counter;
  imported: Counter;
  failed: Counter;
  jobs: Counter;
  chunkDuration: Histogram;
  verification: Counter;
}

/** Instruments of the meter provider registered when they were made (remade if another is registered). */
let made: { provider: unknown; instruments: Instruments } | undefined;
/** Per migration: the end (epoch ms) of the newest verified window seen by this process. */
const verifiedUpTo = new Map<string, number>();
/** Set by startTelemetry: with no SDK, recording would cost parsing and a ledger read for nothing. */
let enabled = false;

export function enableMetrics(on: boolean): void {
  enabled = on;
}

function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (made?.provider === provider) return made.instruments;
  const meter = provider.getMeter('fhir-migrate');
  const resources = (what: string) => ({ description: `FHIR resources ${what}`, unit: '{resource}' });
  const lag = meter.createObservableGauge(metricNames.lag, {
    description: 'Now minus the end of the newest verified window',
    unit: 's',
  });
  lag.addCallback((result) => {
    const now = Date.now();
    for (const [migrationId, till] of verifiedUpTo)
      result.observe((now - till) / 1000, { migration_id: migrationId });
  });
  const built: Instruments = {
    exported: meter.createCounter(metricNames.exported, resources('exported from the source')),
    imported: meter.createCounter(metricNames.imported, resources('imported into the destination')),
    failed: meter.createCounter(metricNames.failed, resources('rejected at export or refused at import')),
    jobs: meter.createCounter(metricNames.jobs, { description: 'Export and import jobs by outcome' }),
    chunkDuration: meter.createHistogram(metricNames.chunkDuration, {
      description: 'Time from a chunk being planned to it being verified or failing',
      unit: 's',
    }),
    verification: meter.createCounter(metricNames.verification, resources('compared by the deep check')),
  };
  made = { provider, instruments: built };
  return built;
}

function addPerType(counter: Counter, counts: Record<string, number>, base: Attributes): void {
  for (const [type, n] of Object.entries(counts)) if (n > 0) counter.add(n, { ...base, resource_type: type });
}

/**
 * Records the metrics of the events just appended to a chunk's stream. Never throws: telemetry must not
 * fail a handler; a failure to record is reported as a process warning.
 */
export function recordChunkFacts(
  migrationId: string,
  appended: readonly StoredEvent[],
  after: ChunkState,
): void {
  if (!enabled || appended.length === 0) return;
  try {
    const m = instruments();
    const base = { migration_id: migrationId, service: activeService() ?? 'unknown' };
    let endedAs: 'verified' | 'failed' | undefined;
    for (const stored of appended) {
      const event = parseChunkEvent(stored);
      switch (event.type) {
        case 'ExportStarted':
        case 'ImportStarted':
          m.jobs.add(1, { ...base, kind: jobKind(event.type), outcome: 'started' });
          break;
        case 'ExportFailed':
        case 'ImportFailed':
          m.jobs.add(1, { ...base, kind: jobKind(event.type), outcome: 'failed' });
          break;
        case 'ExportCompleted':
          m.jobs.add(1, { ...base, kind: 'export', outcome: 'completed' });
          addPerType(m.exported, event.data.exported, base);
          addPerType(m.failed, countByType(event.data.rejected), base);
          break;
        case 'ImportCompleted':
          m.jobs.add(1, { ...base, kind: 'import', outcome: 'completed' });
          addPerType(m.imported, event.data.imported, base);
          addPerType(m.failed, event.data.failed, base);
          break;
        case 'ChunkVerified':
          endedAs = 'verified';
          break;
        case 'ChunkFailed':
          endedAs = 'failed';
          break;
      }
    }
    if (endedAs === 'verified' && after.plan) {
      const till = Date.parse(after.plan.till);
      if (till > (verifiedUpTo.get(migrationId) ?? 0)) verifiedUpTo.set(migrationId, till);
    }
    const last = appended[appended.length - 1];
    if (endedAs && last && after.plannedAt)
      m.chunkDuration.record((Date.parse(last.at) - Date.parse(after.plannedAt)) / 1000, {
        ...base,
        outcome: endedAs,
      });
  } catch (err) {
    process.emitWarning(`fhir-migrate: chunk metrics not recorded: ${reasonOf(err)}`);
  }
}

const jobKind = (type: string): 'export' | 'import' => (type.startsWith('Export') ? 'export' : 'import');

function countByType(issues: readonly { type?: string | undefined }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const issue of issues) {
    const type = issue.type ?? 'unknown';
    counts[type] = (counts[type] ?? 0) + 1;
  }
  return counts;
}

/** One resource compared by a deep check. */
export function recordVerified(migrationId: string, resourceType: string, result: VerificationResult): void {
  if (!enabled) return;
  instruments().verification.add(1, {
    migration_id: migrationId,
    resource_type: resourceType,
    result,
    service: activeService() ?? 'unknown',
  });
}
