/**
 * `npm run test:faults`: runs the fault suite (vitest project "faults", extra arguments passed on) and
 * prints the reliability report from the rows the scenarios recorded — also written to
 * .test-results/faults.md. Exits with vitest's code, or 1 when any row lost or duplicated a resource.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../harness/paths.ts';
import { type FaultRow, reportFile } from './fault-run.ts';

rmSync(reportFile, { force: true });
const started = Date.now();
const vitest = spawnSync(
  process.execPath,
  [
    join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs'),
    'run',
    '--project',
    'faults',
    ...process.argv.slice(2),
  ],
  { cwd: repoRoot, stdio: 'inherit' },
);
const rows: FaultRow[] = existsSync(reportFile)
  ? readFileSync(reportFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as FaultRow)
  : [];

const header = ['fault', 'injected', 'outcome', 'lost', 'duplicated', 'seconds', 'what happened'];
const table = [
  `| ${header.join(' | ')} |`,
  `|${header.map((_h, i) => (i >= 1 && i <= 5 && i !== 2 ? '---:' : '---')).join('|')}|`,
  ...rows.map(
    (r) =>
      `| ${r.fault} | ${r.injected} | ${r.outcome} | ${r.lost} | ${r.duplicated} | ${r.seconds.toFixed(0)} | ${r.detail.replaceAll('|', '\\|')} |`,
  ),
].join('\n');
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
const outcomes = ['clean', 'reported', 'halted', 'refused', 'failed']
  .map((o) => `${rows.filter((r) => r.outcome === o).length} ${o}`)
  .join(', ');
const summary = `${rows.length} fault scenarios (${outcomes}), ${rows.reduce((n, r) => n + r.injected, 0)} faults injected, ${rows.reduce((n, r) => n + r.lost, 0)} resources lost, ${rows.reduce((n, r) => n + r.duplicated, 0)} duplicated, in ${minutes} min`;
writeFileSync(
  join(repoRoot, '.test-results', 'faults.md'),
  `# Reliability report\n\n${summary}\n\n${table}\n`,
);
console.log(`\nReliability report (.test-results/faults.md)\n\n${table}\n\n${summary}`);
const damaged = rows.some((r) => r.lost > 0 || r.duplicated > 0 || r.outcome === 'failed');
process.exit(vitest.status === 0 && !damaged ? 0 : (vitest.status ?? 1) || 1);
