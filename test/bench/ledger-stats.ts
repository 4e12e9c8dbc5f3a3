/**
 * What the benchmark reads back from a run's ledger: when each chunk's export and import started and ended,
 * how much exporting and importing overlapped, and how long the pipeline took to hand work on.
 */
import type { StoredEvent } from '@fhir-migrate/shared/ports/ledger.ts';

export interface ChunkTimes {
  chunkId: string;
  planned: number;
  exportStarted?: number;
  exportCompleted?: number;
  importStarted?: number;
  importCompleted?: number;
  /** Resources imported (sum over types of the last ImportCompleted). */
  imported: number;
}

export interface Interval {
  from: number;
  to: number;
}

export interface PipelineStats {
  chunks: number;
  /** Time covered by at least one export (kick-off to staged), and by at least one import. */
  exportBusyMs: number;
  importBusyMs: number;
  /** Time during which an export and an import ran at once. */
  overlapMs: number;
  /** overlapMs over the shorter of the two busy times: 1 = the shorter phase ran entirely alongside the other. */
  overlapFraction: number;
  /** Every export's duration plus every import's: what the run would take one step at a time. */
  sequentialSumMs: number;
  /** From a chunk's import completing to the export kick-off it made room for (only where one followed). */
  turnaroundsMs: number[];
  /** From a chunk's import completing (or the next chunk's export, if later) to the next chunk's import start. */
  importHandoffsMs: number[];
}

/** Chunk timelines from a migration's events, in chunk order; skipped (empty) windows are left out. */
export function chunkTimesOf(events: readonly StoredEvent[]): ChunkTimes[] {
  const chunks = new Map<string, ChunkTimes>();
  for (const event of events) {
    if (!event.streamId.startsWith('chunk-')) continue;
    const at = Date.parse(event.at);
    if (Number.isNaN(at)) throw new Error(`ledger event ${event.id} has an invalid time '${event.at}'`);
    let chunk = chunks.get(event.streamId);
    if (!chunk) {
      chunk = { chunkId: event.streamId, planned: at, imported: 0 };
      chunks.set(event.streamId, chunk);
    }
    switch (event.type) {
      case 'ExportStarted':
        chunk.exportStarted = at;
        break;
      case 'ExportCompleted':
        chunk.exportCompleted = at;
        break;
      case 'ImportStarted':
        chunk.importStarted = at;
        break;
      case 'ImportCompleted': {
        chunk.importCompleted = at;
        const imported = (event.data as { imported?: Record<string, number> }).imported ?? {};
        chunk.imported = Object.values(imported).reduce((a, b) => a + b, 0);
        break;
      }
      case 'ChunkSkipped':
        chunks.delete(event.streamId);
        break;
    }
  }
  return [...chunks.values()].sort((a, b) => a.chunkId.localeCompare(b.chunkId));
}

export function pipelineStats(chunks: readonly ChunkTimes[]): PipelineStats {
  const exports = intervals(chunks, 'exportStarted', 'exportCompleted');
  const imports = intervals(chunks, 'importStarted', 'importCompleted');
  const exportUnion = union(exports);
  const importUnion = union(imports);
  const exportBusyMs = length(exportUnion);
  const importBusyMs = length(importUnion);
  const overlapMs = length(intersect(exportUnion, importUnion));
  const shorter = Math.min(exportBusyMs, importBusyMs);
  const turnaroundsMs: number[] = [];
  const importHandoffsMs: number[] = [];
  const kickOffs = chunks.filter((c) => c.exportStarted !== undefined);
  for (const [i, chunk] of chunks.entries()) {
    const done = chunk.importCompleted;
    if (done === undefined) continue;
    // The kick-off this completion made room for: the first one after it, of a chunk planned after it.
    const next = kickOffs.find((c) => c.planned >= done && (c.exportStarted as number) >= done);
    if (next) turnaroundsMs.push((next.exportStarted as number) - done);
    const following = chunks[i + 1];
    if (following?.importStarted !== undefined && following.exportCompleted !== undefined)
      importHandoffsMs.push(following.importStarted - Math.max(done, following.exportCompleted));
  }
  return {
    chunks: chunks.length,
    exportBusyMs,
    importBusyMs,
    overlapMs,
    overlapFraction: shorter > 0 ? overlapMs / shorter : 0,
    sequentialSumMs: sum(exports.map((x) => x.to - x.from)) + sum(imports.map((x) => x.to - x.from)),
    turnaroundsMs,
    importHandoffsMs,
  };
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function intervals(
  chunks: readonly ChunkTimes[],
  from: 'exportStarted' | 'importStarted',
  to: 'exportCompleted' | 'importCompleted',
): Interval[] {
  return chunks.flatMap((c) => {
    const a = c[from];
    const b = c[to];
    return a !== undefined && b !== undefined ? [{ from: a, to: b }] : [];
  });
}

/** Merges overlapping intervals; the result is sorted and disjoint. */
export function union(list: readonly Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => a.from - b.from);
  const out: Interval[] = [];
  for (const x of sorted) {
    const last = out[out.length - 1];
    if (last && x.from <= last.to) last.to = Math.max(last.to, x.to);
    else out.push({ ...x });
  }
  return out;
}

/** Intersection of two sorted, disjoint interval lists. */
export function intersect(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as Interval;
    const y = b[j] as Interval;
    const from = Math.max(x.from, y.from);
    const to = Math.min(x.to, y.to);
    if (from < to) out.push({ from, to });
    if (x.to < y.to) i++;
    else j++;
  }
  return out;
}

function length(list: readonly Interval[]): number {
  return sum(list.map((x) => x.to - x.from));
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
