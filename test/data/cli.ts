/**
 * npm run seed-data -- --base <url> --patients N --waves K --wave-gap <duration> [--seed S] [--json]
 * Writes deterministic synthetic FHIR R4 data in waves; prints a summary (stderr) and, with --json,
 * the full report as JSON (stdout).
 */
import { parseArgs } from 'node:util';
import { seedData } from './loader.ts';

const usage =
  'usage: npm run seed-data -- --base <fhir base url> --patients N --waves K --wave-gap <duration e.g. 2s, 500ms, 1m> [--seed S] [--json]';

export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new Error(`'${text}' is not a duration; use a number with ms, s, m or h (e.g. 2s)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

function integer(name: string, raw: string | undefined, fallback?: number): number {
  if (raw === undefined) {
    if (fallback === undefined) throw new Error(`--${name} is required\n${usage}`);
    return fallback;
  }
  if (!/^\d+$/.test(raw)) throw new Error(`--${name} must be a whole number, got '${raw}'`);
  return Number(raw);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      base: { type: 'string' },
      patients: { type: 'string' },
      waves: { type: 'string' },
      'wave-gap': { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  if (!values.base) throw new Error(`--base is required\n${usage}`);
  const report = await seedData({
    baseUrl: values.base.replace(/\/+$/, ''),
    patients: integer('patients', values.patients),
    waves: integer('waves', values.waves, 1),
    waveGapMs: parseDurationMs(values['wave-gap'] ?? '0s'),
    seed: integer('seed', values.seed, 1),
    onProgress: (m) => process.stderr.write(`${m}\n`),
  });
  const rows = Object.entries(report.types).map(
    ([type, c]) =>
      `  ${type.padEnd(20)} ${String(c.created).padStart(6)} ${String(c.updated).padStart(8)} ${String(c.deleted).padStart(8)} ${String(c.current).padStart(8)}`,
  );
  process.stderr.write(
    [
      `seeded ${report.baseUrl} (seed ${report.seed}, ${report.patients} patients, ${report.waves.length} waves)`,
      `  ${'type'.padEnd(20)} ${'created'.padStart(6)} ${'updated'.padStart(8)} ${'deleted'.padStart(8)} ${'current'.padStart(8)}`,
      ...rows,
      `  ${'total current'.padEnd(20)} ${String(report.totalCurrent).padStart(33)}`,
      `  lastUpdated ${report.firstLastUpdated} .. ${report.lastLastUpdated}`,
      '',
    ].join('\n'),
  );
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
