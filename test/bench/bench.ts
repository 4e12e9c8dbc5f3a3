/**
 * npm run bench -- [--scale N] [--repeat N] [--json <file>] [--staging-mb N] [--keep-servers] [--stop]
 *
 * Measures fhir-migrate against what the two FHIR servers can do on their own, on a pair of HAPI servers
 * of its own (ports 8091/8092, empty at start) and synthetic data. Every figure is a ratio, or measured side
 * by side in the same run; nothing here asserts a time. See docs/scale.md for what the figures mean.
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { seededTypes } from '../data/generator.ts';
import { seedData } from '../data/loader.ts';
import { type FloorResult, runFloor } from './floor.ts';
import { type ChunkTimes, median } from './ledger-stats.ts';
import { applyRest, type RestRun, stagedFilesOf } from './rest-import.ts';
import { assertSameCounts, emptyServer, startBenchServers, stopBenchServers } from './servers.ts';
import { runStagingCopy } from './staging-copy.ts';
import { runTool, type ToolRunResult } from './tool-run.ts';

const usage =
  'usage: npm run bench -- [--scale N (default 1: ~5,700 resources)] [--repeat N (floor and one-chunk runs, taking turns; default 2)] [--json <file>] [--staging-mb N (default 1024)] [--keep-servers] [--stop]';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    repeat: { type: 'string', default: '2' },
    json: { type: 'string' },
    'staging-mb': { type: 'string', default: '1024' },
    'keep-servers': { type: 'boolean', default: false },
    stop: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (values.stop) {
  const stopped = await stopBenchServers();
  console.log(stopped.length > 0 ? `stopped: ${stopped.join(', ')}` : 'no benchmark servers were running');
  process.exit(0);
}
const scale = Number(values.scale);
const stagingMB = Number(values['staging-mb']);
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20)
  throw new Error(`--repeat must be a whole number in 1..20\n${usage}`);
if (!Number.isFinite(scale) || scale <= 0 || scale > 1000)
  throw new Error(`--scale must be a number in (0, 1000]\n${usage}`);
if (!Number.isInteger(stagingMB) || stagingMB < 1)
  throw new Error(`--staging-mb must be a whole number ≥ 1\n${usage}`);

const benchStarted = Date.now();
const progress = (message: string) =>
  process.stderr.write(
    `[bench ${((Date.now() - benchStarted) / 1000).toFixed(0).padStart(4)}s] ${message}\n`,
  );
const types = [...seededTypes];
const patients = Math.max(10, Math.round(600 * scale));

progress('starting the benchmark HAPI servers (empty)');
const servers = await startBenchServers();
const sourceUrl = servers.source.baseUrl;
const destinationUrl = servers.destination.baseUrl;
try {
  progress(
    `servers up in ${servers.source.startupSeconds.toFixed(0)}s / ${servers.destination.startupSeconds.toFixed(0)}s; seeding ${patients} patients`,
  );
  const seed = await seedData({ baseUrl: sourceUrl, patients, waves: 4, waveGapMs: 0, seed: 1 });
  const resources = seed.totalCurrent;
  const firstMs = Date.parse(seed.firstLastUpdated);
  const spanMs = Date.parse(seed.lastLastUpdated) - firstMs;
  progress(`seeded ${resources} resources over ${(spanMs / 1000).toFixed(0)}s of lastUpdated`);

  // The JVMs' first bulk jobs run cold: warm both servers up so the floor is not flattered by JIT time.
  progress('warming up both servers (a small $export and $import, not measured)');
  await runFloor(sourceUrl, destinationUrl, ['Organization', 'Practitioner', 'Patient']);
  await emptyServer(destinationUrl, types);

  // Floor and tool take turns, `repeat` times each: HAPI's bulk jobs get faster as its JVM warms up, so the
  // one that always ran first would always look slower. The ratio is of the medians.
  const startDate = new Date(firstMs).toISOString();
  const floors: FloorResult[] = [];
  const ones: ToolRunResult[] = [];
  for (let round = 1; round <= repeat; round++) {
    progress(`floor ${round}/${repeat}: $export of everything, then $import of its files, driven directly`);
    const floorRun = await runFloor(sourceUrl, destinationUrl, types);
    await assertSameCounts('floor', sourceUrl, destinationUrl, types);
    await emptyServer(destinationUrl, types);
    floors.push(floorRun);
    progress(
      `floor ${ms(floorRun.totalMs)} (export ${ms(floorRun.exportMs)}, import ${ms(floorRun.importMs)})`,
    );

    progress(
      `tool, one chunk ${round}/${repeat}: fhir-migrate run --until-caught-up, one window over everything`,
    );
    const oneRun = await runTool({ sourceUrl, destinationUrl, types, startDate, chunkDuration: '3650d' });
    await assertSameCounts('tool, one chunk', sourceUrl, destinationUrl, types);
    await emptyServer(destinationUrl, types);
    const chunk = oneRun.chunks[0];
    if (
      oneRun.chunks.length !== 1 ||
      !chunk?.importStarted ||
      !chunk.importCompleted ||
      !chunk.exportStarted ||
      !chunk.exportCompleted
    )
      throw new Error(`the one-chunk run made ${oneRun.chunks.length} chunks`);
    ones.push(oneRun);
    progress(`tool, one chunk ${ms(oneRun.totalMs)}`);
  }
  const floor = medianBy(floors, (f) => f.totalMs);
  const one = medianBy(ones, (o) => o.totalMs);
  const oneChunk = one.chunks[0] as Required<ChunkTimes>;

  const windowMs = Math.max(1000, Math.ceil(spanMs / 10));
  progress(`tool, many chunks: windows of ${windowMs} ms`);
  const many = await runTool({ sourceUrl, destinationUrl, types, startDate, chunkDuration: `${windowMs}ms` });
  await assertSameCounts('tool, many chunks', sourceUrl, destinationUrl, types);
  await emptyServer(destinationUrl, types);
  progress(`tool, many chunks ${ms(many.totalMs)} over ${many.stats.chunks} chunks`);

  const staged = await stagedFilesOf(one.stagingDir);
  progress(
    `REST import of the one-chunk run's ${staged.length} staged files (concurrency 4 × bundles of 100, the defaults)`,
  );
  const rest = await applyRest(destinationUrl, staged, { concurrency: 4, bundleSize: 100 });
  await assertSameCounts('REST import', sourceUrl, destinationUrl, types);
  const importMs = oneChunk.importCompleted - oneChunk.importStarted;
  // $import on the same staged files: the one-chunk runs' import steps (median rate).
  const importResourcesPerSec = median(
    ones.map((o) => {
      const c = o.chunks[0] as Required<ChunkTimes>;
      return c.imported / ((c.importCompleted - c.importStarted) / 1000);
    }),
  ) as number;

  progress('REST knee: concurrency × bundle size, on new ids (a slice of each type per probe)');
  const limitPerType = Math.max(50, Math.round(150 * Math.min(scale, 4)));
  const knee: RestRun[] = [];
  let probe = 0;
  for (const concurrency of [1, 2, 4, 8, 16]) {
    knee.push(
      await applyRest(destinationUrl, staged, {
        concurrency,
        bundleSize: 100,
        idSuffix: `-k${++probe}`,
        limitPerType,
      }),
    );
    progress(`  concurrency ${concurrency} × 100: ${last(knee).resourcesPerSec.toFixed(0)}/s`);
  }
  const bestConcurrency =
    [...knee].sort((a, b) => b.resourcesPerSec - a.resourcesPerSec)[0]?.concurrency ?? 4;
  for (const bundleSize of [25, 50, 250, 500]) {
    knee.push(
      await applyRest(destinationUrl, staged, {
        concurrency: bestConcurrency,
        bundleSize,
        idSuffix: `-k${++probe}`,
        limitPerType,
      }),
    );
    progress(`  concurrency ${bestConcurrency} × ${bundleSize}: ${last(knee).resourcesPerSec.toFixed(0)}/s`);
  }
  const best = [...knee].sort((a, b) => b.resourcesPerSec - a.resourcesPerSec)[0] as RestRun;

  progress(`staging copy: ${stagingMB} MB of NDJSON through download → check → stage, and a plain download`);
  const copy = await runStagingCopy(stagingMB);

  const report = {
    machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    dataset: { patients, resources, types, lastUpdatedSpanSeconds: spanMs / 1000 },
    resources,
    repeat,
    floor,
    floorRunsMs: floors.map((f) => f.totalMs),
    toolOneChunkRunsMs: ones.map((o) => o.totalMs),
    toolOneChunk: {
      totalMs: one.totalMs,
      exportMs: oneChunk.exportCompleted - oneChunk.exportStarted,
      importMs,
      peakRssMb: one.peakRssMb,
    },
    toolOverFloorOneChunk: one.totalMs / floor.totalMs,
    toolManyChunks: { totalMs: many.totalMs, windowMs, peakRssMb: many.peakRssMb, ...many.stats },
    toolOverFloorManyChunks: many.totalMs / floor.totalMs,
    manyChunksOverSequentialSum: many.totalMs / many.stats.sequentialSumMs,
    overlapFraction: many.stats.overlapFraction,
    turnaroundMsMedian: median(many.stats.turnaroundsMs) ?? null,
    turnaroundMsMax: many.stats.turnaroundsMs.length > 0 ? Math.max(...many.stats.turnaroundsMs) : null,
    importHandoffMsMedian: median(many.stats.importHandoffsMs) ?? null,
    importHandoffMsMax:
      many.stats.importHandoffsMs.length > 0 ? Math.max(...many.stats.importHandoffsMs) : null,
    stagingFileMB: copy.fileMB,
    stagingMBps: copy.tool.mbPerSec,
    stagingPeakRssMB: copy.tool.peakRssMb,
    stagingRawMBps: copy.raw.mbPerSec,
    stagingRawPeakRssMB: copy.raw.peakRssMb,
    stagingOverRaw: copy.tool.mbPerSec / copy.raw.mbPerSec,
    restResourcesPerSec: rest.resourcesPerSec,
    importResourcesPerSec,
    restOverImport: rest.resourcesPerSec / importResourcesPerSec,
    restKnee: knee,
    restBest: {
      concurrency: best.concurrency,
      bundleSize: best.bundleSize,
      resourcesPerSec: best.resourcesPerSec,
    },
    benchSeconds: (Date.now() - benchStarted) / 1000,
  };
  printTable(report);
  if (values.json) {
    await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
    progress(`wrote ${values.json}`);
  }
} finally {
  if (!values['keep-servers']) {
    await stopBenchServers();
    progress('benchmark servers stopped');
  }
}

function ms(value: number): string {
  return `${(value / 1000).toFixed(1)}s`;
}

/** The element whose key is the median (the lower middle one of an even count). */
function medianBy<T>(list: readonly T[], key: (item: T) => number): T {
  const sorted = [...list].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)] as T;
}

function last<T>(list: readonly T[]): T {
  return list[list.length - 1] as T;
}

function printTable(r: {
  machine: { cores: number; cpu: string };
  resources: number;
  floorRunsMs: number[];
  toolOneChunkRunsMs: number[];
  floor: { totalMs: number; exportMs: number; importMs: number };
  toolOneChunk: { totalMs: number };
  toolOverFloorOneChunk: number;
  toolManyChunks: { totalMs: number; chunks: number; sequentialSumMs: number };
  toolOverFloorManyChunks: number;
  manyChunksOverSequentialSum: number;
  overlapFraction: number;
  turnaroundMsMedian: number | null;
  turnaroundMsMax: number | null;
  importHandoffMsMedian: number | null;
  stagingFileMB: number;
  stagingMBps: number;
  stagingPeakRssMB: number;
  stagingRawMBps: number;
  restResourcesPerSec: number;
  importResourcesPerSec: number;
  restOverImport: number;
  restBest: { concurrency: number; bundleSize: number; resourcesPerSec: number };
}): void {
  const yes = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const rows: [string, string, string, string][] = [
    [
      'floor: $export + $import',
      ms(r.floor.totalMs),
      `export ${ms(r.floor.exportMs)}, import ${ms(r.floor.importMs)}; runs ${r.floorRunsMs.map(ms).join(', ')}`,
      '',
    ],
    [
      'tool, one chunk',
      ms(r.toolOneChunk.totalMs),
      `tool/floor ${r.toolOverFloorOneChunk.toFixed(2)}; runs ${r.toolOneChunkRunsMs.map(ms).join(', ')}`,
      `≤ 1.10 ${yes(r.toolOverFloorOneChunk <= 1.1)}`,
    ],
    [
      `tool, ${r.toolManyChunks.chunks} chunks`,
      ms(r.toolManyChunks.totalMs),
      `tool/floor ${r.toolOverFloorManyChunks.toFixed(2)}; /sequential sum ${ms(r.toolManyChunks.sequentialSumMs)} = ${r.manyChunksOverSequentialSum.toFixed(2)}`,
      `< 1 ${yes(r.manyChunksOverSequentialSum < 1)}`,
    ],
    ['export/import overlap', r.overlapFraction.toFixed(2), 'of the shorter phase', ''],
    [
      'turnaround import→next export',
      r.turnaroundMsMedian === null ? 'n/a' : `${r.turnaroundMsMedian.toFixed(0)} ms`,
      `max ${r.turnaroundMsMax?.toFixed(0) ?? 'n/a'} ms; import hand-off median ${r.importHandoffMsMedian?.toFixed(0) ?? 'n/a'} ms`,
      `< 1000 ms ${yes((r.turnaroundMsMax ?? Number.POSITIVE_INFINITY) < 1000)}`,
    ],
    [
      `staging copy (${r.stagingFileMB.toFixed(0)} MB)`,
      `${r.stagingMBps.toFixed(0)} MB/s`,
      `plain download ${r.stagingRawMBps.toFixed(0)} MB/s; peak RSS ${r.stagingPeakRssMB.toFixed(0)} MB`,
      `≥ 100 MB/s ${yes(r.stagingMBps >= 100)}, RSS < 256 ${yes(r.stagingPeakRssMB < 256)}`,
    ],
    [
      'REST import (4 × 100)',
      `${r.restResourcesPerSec.toFixed(0)}/s`,
      `$import ${r.importResourcesPerSec.toFixed(0)}/s; rest/$import ${r.restOverImport.toFixed(2)}`,
      '',
    ],
    [
      'REST knee',
      `${r.restBest.resourcesPerSec.toFixed(0)}/s`,
      `at concurrency ${r.restBest.concurrency} × bundles of ${r.restBest.bundleSize}`,
      '',
    ],
  ];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  console.log(
    `fhir-migrate benchmark — ${r.resources} resources, ${r.machine.cores} cores (${r.machine.cpu})`,
  );
  for (const row of rows)
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
}
