/**
 * FHIR `instant` values compared exactly: different offsets and any number of fractional digits
 * (`2026-01-01T10:00:00.5+02:00` equals `2026-01-01T08:00:00.500000Z`), without the millisecond rounding
 * of `Date.parse`.
 */

export interface ParsedInstant {
  /** Whole seconds since the epoch, UTC. */
  epochSeconds: number;
  /** The fractional-second digits as written, trailing zeros removed ('' for none). */
  fraction: string;
}

const instantPattern =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?(Z|([+-])(\d{2}):(\d{2}))$/;

/** Parses a FHIR instant (seconds and a zone are required); undefined if the text is not one. */
export function parseInstant(text: string): ParsedInstant | undefined {
  const m = instantPattern.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 14 || offsetMins > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  const date = new Date(0); // setUTCFullYear, unlike Date.UTC, keeps years 0–99 as written
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  const utcMs = date.getTime() - offsetMinutes * 60_000;
  return { epochSeconds: utcMs / 1000, fraction: (m[7] ?? '').replace(/0+$/, '') };
}

/** Negative if a < b, 0 if equal, positive if a > b. */
export function compareInstants(a: ParsedInstant, b: ParsedInstant): number {
  if (a.epochSeconds !== b.epochSeconds) return a.epochSeconds - b.epochSeconds;
  const width = Math.max(a.fraction.length, b.fraction.length);
  const fa = a.fraction.padEnd(width, '0');
  const fb = b.fraction.padEnd(width, '0');
  return fa < fb ? -1 : fa > fb ? 1 : 0;
}

/** Parses an instant that must be valid (a window boundary from our own configuration or planner). */
export function requireInstant(text: string, what: string): ParsedInstant {
  const parsed = parseInstant(text);
  if (!parsed) throw new Error(`${what} is not a FHIR instant: ${JSON.stringify(text)}`);
  return parsed;
}

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
}
