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
      `  search parameters  copied ${s.searchParameters.copied}, failed ${s.searchParameters.failures}, reindex ${s.searchParameters.reindex}`,
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
  for (const h of s.halted) lines.push(`  HALTED at ${h.chunkId}: ${h.reason}`);
  for (const f of s.failures.slice(0, 10))
    lines.push(
      `  failed ${f.type ?? '?'}/${f.id ?? '?'} ${f.file ? `${f.file}:${f.line ?? '?'}` : ''} ${f.reason}`,
    );
  if (s.failures.length > 10)
    lines.push(`  … ${s.failures.length - 10} more failures (fhir-migrate status --json)`);
  return lines.join('\n');
}
