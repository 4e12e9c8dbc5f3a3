/**
 * Telemetry end to end: the real CLI migrates seeded data in several chunks while exporting OTLP/HTTP JSON
 * to a small collector started here. Each chunk must be exactly one trace — every span naming the chunk in
 * it, consumer spans of each service it passed through, all hanging from one root — and the counters must
 * agree with what was seeded.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../harness/fhir-migrate.ts';
import { migrationArgs, type StatusJson, seedScenario } from './scenario.ts';

const { sourceUrl, destinationUrl } = inject('fhirServers');

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: OtlpAttribute[];
  links?: { traceId: string; spanId: string }[];
}
interface OtlpDataPoint {
  attributes?: OtlpAttribute[];
  asInt?: number | string;
  asDouble?: number;
  count?: number | string;
}
interface OtlpMetric {
  name: string;
  sum?: { dataPoints: OtlpDataPoint[] };
  gauge?: { dataPoints: OtlpDataPoint[] };
  histogram?: { dataPoints: OtlpDataPoint[] };
}
interface Received {
  service: string;
  span: OtlpSpan;
}

const spanKindConsumer = 5;

function attr(attributes: OtlpAttribute[] | undefined, key: string): string | undefined {
  const v = attributes?.find((a) => a.key === key)?.value;
  if (!v) return undefined;
  return String(v.stringValue ?? v.intValue ?? v.doubleValue ?? v.boolValue);
}

/** An OTLP/HTTP receiver that keeps every span and metric data point it is sent (JSON encoding only). */
function startCollector() {
  const spans: Received[] = [];
  const metrics: OtlpMetric[] = [];
  const unreadable: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (req.url === '/v1/traces')
          for (const rs of body.resourceSpans ?? []) {
            const service = attr(rs.resource?.attributes, 'service.name') ?? '';
            for (const ss of rs.scopeSpans ?? [])
              for (const span of ss.spans ?? []) spans.push({ service, span });
          }
        else if (req.url === '/v1/metrics')
          for (const rm of body.resourceMetrics ?? [])
            for (const sm of rm.scopeMetrics ?? []) metrics.push(...(sm.metrics ?? []));
        else unreadable.push(`${req.method} ${req.url}`);
      } catch {
        unreadable.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return { server, spans, metrics, unreadable };
}

/**
 * A counter's total per attribute set, as of the latest export (cumulative temporality: each export
 * repeats the running total, so the largest value per attribute set is the final one).
 */
function counterTotal(
  metrics: OtlpMetric[],
  name: string,
  filter: (a: OtlpAttribute[]) => boolean = () => true,
) {
  const latest = new Map<string, number>();
  for (const m of metrics.filter((x) => x.name === name))
    for (const p of m.sum?.dataPoints ?? []) {
      if (!filter(p.attributes ?? [])) continue;
      const key = JSON.stringify([...(p.attributes ?? [])].sort((a, b) => a.key.localeCompare(b.key)));
      latest.set(key, Math.max(latest.get(key) ?? 0, Number(p.asInt ?? p.asDouble ?? 0)));
    }
  return [...latest.values()].reduce((a, b) => a + b, 0);
}

describe('telemetry', () => {
  const collector = startCollector();
  let endpoint = '';
  beforeAll(async () => {
    collector.server.listen(0, '127.0.0.1');
    await once(collector.server, 'listening');
    endpoint = `http://127.0.0.1:${(collector.server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    collector.server.close();
  });

  it('makes each chunk one trace across planner, exporter, importer and verifier, and counts what moved', async () => {
    const s = await seedScenario(sourceUrl, { patients: 12, waves: 2, waveGapMs: 3000, bundleSize: 25 });
    const run = await runCli(
      [
        'run',
        '--until-caught-up',
        ...migrationArgs(s, sourceUrl, destinationUrl, [
          '--chunk-duration',
          '2s',
          '--import-dialect',
          'hapi',
          '--deep-check-count',
          '3',
        ]),
      ],
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        FHIR_MIGRATE_LOG_LEVEL: 'info',
      },
    );
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    expect(collector.unreadable).toEqual([]);

    const status = JSON.parse((await runCli(['status', '--state', s.state, '--json'])).stdout) as StatusJson;
    const migrated = status.list.filter((c) => c.status === 'verified').map((c) => c.chunkId);
    expect(migrated.length).toBeGreaterThanOrEqual(2);

    const spans = collector.spans.map((r) => r.span);
    expect(new Set(collector.spans.map((r) => r.service))).toEqual(new Set(['fhir-migrate-run']));
    const byId = new Map(spans.map((sp) => [sp.spanId, sp]));
    const traceOf = new Map<string, string>();
    for (const chunkId of migrated) {
      const mine = spans.filter((sp) => attr(sp.attributes, 'fhir_migrate.chunk_id') === chunkId);
      // Every span that names the chunk is in one trace.
      const traces = new Set(mine.map((sp) => sp.traceId));
      expect(
        [...traces].map((t) => `${t}: ${mine.filter((sp) => sp.traceId === t).map((sp) => sp.name)}`),
        `traces of ${chunkId}`,
      ).toHaveLength(1);
      const traceId = [...traces][0] ?? '';
      traceOf.set(chunkId, traceId);
      const inTrace = spans.filter((sp) => sp.traceId === traceId);
      // Consumer spans of every service the chunk passed through.
      const consumers = inTrace.filter((sp) => sp.kind === spanKindConsumer).map((sp) => sp.name);
      for (const hop of [
        'exporter chunk-planned',
        'exporter export-poll',
        'importer export-completed',
        'importer import-poll',
        'verifier import-completed',
        'planner chunk-verified',
      ])
        expect(consumers, `${chunkId}: ${hop}`).toContain(hop);
      // One root (the planner's), and every span's parent chain reaches it within the trace.
      const roots = inTrace.filter((sp) => !sp.parentSpanId);
      expect(
        roots.map((r) => r.name),
        `roots of ${chunkId}`,
      ).toEqual(['planner plan chunk']);
      for (const sp of inTrace) {
        let at: OtlpSpan | undefined = sp;
        for (let hops = 0; at?.parentSpanId && hops < 100; hops++) at = byId.get(at.parentSpanId);
        expect(at?.spanId, `${chunkId}: ${sp.name} reaches the root`).toBe(roots[0]?.spanId);
      }
      console.log(
        `[telemetry] ${chunkId}: ${inTrace.length} spans, ${consumers.length} consumer spans (${[...new Set(consumers)].join(', ')})`,
      );
    }
    expect(new Set(traceOf.values()).size).toBe(migrated.length);

    // Log lines written inside a chunk's spans carry its trace id.
    const logged = run.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; chunkId?: string; trace_id?: string; span_id?: string });
    const started = logged.filter(
      (l) => l.msg === 'export started' && l.chunkId && migrated.includes(l.chunkId),
    );
    expect(started.length).toBe(migrated.length);
    for (const l of started) expect(l.trace_id, l.chunkId).toBe(traceOf.get(l.chunkId ?? ''));

    // Metrics: the counters agree with what was seeded and with the ledger's own accounting.
    const names = new Set(collector.metrics.map((m) => m.name));
    for (const name of [
      'fhir_migrate.resources.exported',
      'fhir_migrate.resources.imported',
      'fhir_migrate.jobs',
      'fhir_migrate.chunk.duration',
      'fhir_migrate.lag',
      'fhir_migrate.verification.resources',
    ])
      expect(names, name).toContain(name);
    // The source is shared with whatever else seeds it at the same time, so a window may hold more than this
    // test seeded: the counters must match the ledger's accounting exactly, and cover at least the seed.
    const exported = counterTotal(collector.metrics, 'fhir_migrate.resources.exported');
    const imported = counterTotal(collector.metrics, 'fhir_migrate.resources.imported');
    expect({ exported, imported }).toEqual({
      exported: status.resources.exported,
      imported: status.resources.imported,
    });
    expect(imported).toBeGreaterThanOrEqual(s.report.totalCurrent);
    expect(counterTotal(collector.metrics, 'fhir_migrate.resources.failed')).toBe(0);
    const jobs = (kind: string, outcome: string) =>
      counterTotal(
        collector.metrics,
        'fhir_migrate.jobs',
        (a) => attr(a, 'kind') === kind && attr(a, 'outcome') === outcome,
      );
    expect(jobs('export', 'completed')).toBe(migrated.length);
    expect(jobs('import', 'completed')).toBe(migrated.length);
    const durations = collector.metrics
      .filter((m) => m.name === 'fhir_migrate.chunk.duration')
      .flatMap((m) => m.histogram?.dataPoints ?? [])
      .filter((p) => attr(p.attributes, 'outcome') === 'verified')
      .map((p) => Number(p.count));
    expect(Math.max(...durations)).toBe(migrated.length);
    console.log(
      `[telemetry] ${migrated.length} chunks, ${spans.length} spans, ${imported} resources (${s.report.totalCurrent} seeded here), run ${run.seconds.toFixed(1)}s`,
    );
  });
});
