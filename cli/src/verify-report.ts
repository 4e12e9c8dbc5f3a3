/** Terminal renderings of verification results: one table per check, mismatches with their JSON paths. */
import type { VerificationOutcome } from '@fhir-migrate/verifier/src/verification-run.ts';

const num = (n: number, w: number) => String(n).padStart(w);

export function renderOutcome(o: VerificationOutcome, listLimit = 20): string {
  const out: string[] = [];
  if (o.surface) {
    out.push(`surface check (_summary=count per type) — ${o.surface.ok ? 'counts match' : 'COUNTS DIFFER'}`);
    out.push(
      `  ${'type'.padEnd(24)}${'source'.padStart(10)}${'destination'.padStart(13)}${'difference'.padStart(12)}`,
    );
    for (const r of o.surface.rows)
      out.push(
        `  ${r.type.padEnd(24)}${num(r.source, 10)}${num(r.destination, 13)}${(r.difference === 0 ? '0' : r.difference > 0 ? `+${r.difference}` : String(r.difference)).padStart(12)}`,
      );
  }
  if (o.deep) {
    const d = o.deep;
    out.push(
      `deep check (seed ${d.seed}) — ${d.checked} resources compared, ${d.mismatches.length} mismatches${d.ok ? '' : ' — NOT CLEAN'}`,
    );
    for (const [type, t] of Object.entries(d.perType))
      out.push(
        `  ${type.padEnd(24)}${num(t.sampled, 6)} sampled${t.mismatches > 0 ? `, ${t.mismatches} differ` : ''}`,
      );
    for (const m of d.mismatches.slice(0, listLimit))
      out.push(
        `  ${m.kind.padEnd(8)} ${m.type}/${m.id}${m.paths?.length ? ` at ${m.paths.join(', ')}` : ''}`,
      );
    if (d.mismatches.length > listLimit) out.push(`  … ${d.mismatches.length - listLimit} more (--json)`);
  }
  if (o.full) {
    const f = o.full;
    out.push(
      `full reconciliation${f.asOf ? ` (as of watermark ${f.asOf})` : ''} — ${f.ok ? 'CLEAN' : 'NOT CLEAN'} in ${(f.durationMs / 1000).toFixed(1)}s`,
    );
    const head = ['source', 'destination', 'matching', 'missing', 'extra', 'differing', 'pending'];
    out.push(`  ${'type'.padEnd(24)}${head.map((h) => h.padStart(12)).join('')}`);
    for (const r of [...f.rows, { type: 'total', ...f.totals }])
      out.push(
        `  ${r.type.padEnd(24)}${[r.source, r.destination, r.matching, r.missing, r.extra, r.differing, r.pending].map((n) => num(n, 12)).join('')}`,
      );
    const list = (label: string, refs: readonly string[]) => {
      if (refs.length === 0) return;
      out.push(
        `  ${label}: ${refs.slice(0, listLimit).join(', ')}${refs.length > listLimit ? ` … (${refs.length - listLimit} more, --json)` : ''}`,
      );
    };
    list('missing on the destination', f.missing);
    list('extra on the destination (gone from the source)', f.extra);
    for (const d of f.differing.slice(0, listLimit))
      out.push(`  differs  ${d.ref} at ${d.paths.join(', ') || '(content)'}`);
    if (f.differing.length > listLimit)
      out.push(`  … ${f.differing.length - listLimit} more differing (--json)`);
    if (f.pending.length > 0)
      out.push(
        `  pending: ${f.totals.pending} source resources changed at or after the watermark (the pipeline carries them next)`,
      );
    if (f.repair) {
      const r = f.repair;
      out.push(
        `repair — restored ${r.restored} missing, overwrote ${r.updated} differing, deleted ${r.deleted} extra, ${r.failures.length} failed (${(r.durationMs / 1000).toFixed(1)}s)`,
      );
      for (const x of r.failures.slice(0, listLimit)) out.push(`  failed ${x.ref}: ${x.reason}`);
    }
  }
  return out.join('\n');
}
