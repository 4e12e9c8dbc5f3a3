import { DomainError } from './errors.ts';

const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses `30d`, `12h`, `5m`, `2s`, `250ms` (also `1.5h`) into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (!match) {
    throw new DomainError(
      'INVALID_DURATION',
      `'${text}' is not a duration: use a number followed by d, h, m, s or ms (e.g. 30d, 12h, 5m, 2s)`,
    );
  }
  return Math.round(Number(match[1]) * units[match[2] as keyof typeof units]);
}

/** The seed tool's unit names (`AZURE_ExportChunkDuration`): Days, Hours, Minutes (anything else there meant minutes). */
export function seedUnitToDuration(amount: number, unit: string): string {
  const u = unit.trim().toLowerCase();
  const suffix = u.startsWith('day') ? 'd' : u.startsWith('hour') ? 'h' : u.startsWith('sec') ? 's' : 'm';
  return `${amount}${suffix}`;
}

export function formatDuration(ms: number): string {
  for (const [suffix, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${suffix}`;
  }
  return `${ms}ms`;
}
