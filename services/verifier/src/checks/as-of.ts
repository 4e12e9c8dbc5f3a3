/**
 * The `asOf` cut: the migration's watermark. A source resource changed at or after it is not yet due on
 * the destination (a later chunk carries it), so a check counts it as pending instead of as a mismatch.
 * Instants are compared exactly (offsets, sub-millisecond digits), not through Date.parse.
 */
import {
  compareInstants,
  type ParsedInstant,
  parseInstant,
} from '@fhir-migrate/shared/adapters/fhir-http/instant.ts';

export type DueTest = (lastUpdated: string | undefined) => boolean;

/** A test telling whether a source resource is pending; never pending without `asOf`. */
export function pendingTest(asOf: string | undefined): DueTest {
  if (asOf === undefined) return () => false;
  const cut: ParsedInstant | undefined = parseInstant(asOf);
  if (!cut)
    throw new Error(
      `asOf is not a FHIR instant (e.g. 2026-01-01T00:00:00Z): ${JSON.stringify(asOf.slice(0, 40))}`,
    );
  return (lastUpdated) => {
    const at = lastUpdated === undefined ? undefined : parseInstant(lastUpdated);
    // Without a readable lastUpdated nothing says it is recent: it is due.
    return at !== undefined && compareInstants(at, cut) >= 0;
  };
}
