/**
 * What every verification check needs and how its work is scoped. The checks are library functions: the
 * CLI (`verify`, `cutover`) and the API build the clients and call them; nothing here reads configuration.
 */
import type { FhirClient } from '@fhir-migrate/shared/adapters/fhir-http/client.ts';

export interface CheckDeps {
  source: FhirClient;
  destination: FhirClient;
  /** A folder for spill files (full reconciliation's SQLite scratch DB); created if missing, scratch files deleted after. */
  workDir: string;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export interface CheckScope {
  /** Resource types to check; empty = every type with resources on the source (discover: CapabilityStatement rest[0].resource[].type, then _summary=count each, keep > 0). */
  types: string[];
  /** Extra search parameters applied on BOTH servers to every query, e.g. `_tag=urn:fhir-migrate:test|seed-42` (a URL query fragment). */
  filter?: string;
}

export type Progress = (p: {
  phase: string;
  type?: string;
  side?: 'source' | 'destination';
  done: number;
  total?: number;
}) => void;

export type Side = 'source' | 'destination';
