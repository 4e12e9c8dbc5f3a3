/** `fhir-migrate status`: the migration summary as a compact terminal view, or JSON. */
import type { MigrationSummary } from '@fhir-migrate/shared/application/summary.ts';

export function renderSummary(s: MigrationSummary): string {
  if (!s.started) return `migration '${s.migrationId}': not started (no events in this state file)`;
  const done = (s.chunks.byStatus.verified ?? 0) + (s.chunks.byStatus.skipped ?? 0);
  const lines = [
    `migration '${s.migrationId}' (${s.control}): ${s.sourceUrl} → ${s.destinationUrl}`,
    `  watermark  ${s.watermark ?? '-'}   lag ${s.lagSeconds !== undefined ? `${Math.round(s.lagSeconds)}s` : '-'}`,
    `  chunks     ${done}/${s.chunks.total} done  ${Object.entries(s.chunks.byStatus)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `  resources  exported ${s.resources.exported}, imported ${s.resources.imported}, failed ${s.resources.failed}, rejected ${s.resources.rejected}, deletes ${s.resources.deletes}, out-of-window ${s.resources.outOfWindow}`,
  ];
  if (s.searchParameters)
    lines.push(
      `  search parameters  copied ${s.searchParameters.copied}, already there ${s.searchParameters.unchanged}, failed ${s.searchParameters.failures}, reindex ${s.searchParameters.reindex}`,
    );
  const types = Object.entries(s.perType).sort(([a], [b]) => a.localeCompare(b));
  if (types.length > 0) {
    lines.push(
      `  ${'type'.padEnd(22)}${'exported'.padStart(10)}${'imported'.padStart(10)}${'failed'.padStart(8)}`,
    );
    for (const [type, c] of types)
      lines.push(
        `  ${type.padEnd(22)}${String(c.exported).padStart(10)}${String(c.imported).padStart(10)}${String(c.failed).padStart(8)}`,
      );
  }
  if (s.etaSeconds !== undefined || s.resourcesPerSecond !== undefined)
    lines.push(
      `  pace       ${(s.resourcesPerSecond ?? 0).toFixed(1)} resources/s${s.etaSeconds !== undefined ? `, caught up in ~${duration(s.etaSeconds)}` : ''}`,
    );
  for (const r of s.running)
    lines.push(
      `  running    ${r.chunkId} ${r.status.padEnd(9)} [${r.since} → ${r.till}) ${r.expectedCount} resources, ${duration(r.ageSeconds)} in this step`,
    );
  const v = s.lastVerification;
  if (v)
    lines.push(
      `  verified   ${v.kind} check ${v.completedAt ?? v.requestedAt}: ${v.status === 'failed' ? `could not run (${v.error})` : v.ok ? 'clean' : `NOT clean${verificationCounts(v)}`}`,
    );
  for (const h of s.halted) lines.push(`  HALTED at ${h.chunkId}: ${h.reason}`);
  for (const f of s.failures.slice(0, 10))
    lines.push(
      `  failed ${f.type ?? '?'}/${f.id ?? '?'} ${f.file ? `${f.file}:${f.line ?? '?'}` : ''} ${f.reason}`,
    );
  if (s.failuresTotal > 10)
    lines.push(
      `  … ${s.failuresTotal - 10} more failures (fhir-migrate status --json, or the API's /failures)`,
    );
  return lines.join('\n');
}

function verificationCounts(v: NonNullable<MigrationSummary['lastVerification']>): string {
  if (v.full)
    return `: ${v.full.totals.missing} missing, ${v.full.totals.extra} extra, ${v.full.totals.differing} differing`;
  if (v.deep) return `: ${v.deep.mismatches.length} of ${v.deep.checked} sampled differ`;
  if (v.surface)
    return `: ${v.surface.rows.filter((r) => r.difference !== 0).length} types with different counts`;
  return '';
}

/** 75 → "1m15s", 3700 → "1h1m". */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}
