import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTelemetry } from './telemetry.ts';

/** Whether a span started now would be recorded (an SDK is registered) rather than a no-op. */
function spansAreRecorded(): boolean {
  const span = trace.getTracer('test').startSpan('probe');
  span.end();
  return span.isRecording() || trace.isSpanContextValid(span.spanContext());
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

describe('startTelemetry', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    // Each case registers its own SDK globally: forget it before the next.
    trace.disable();
    metrics.disable();
    propagation.disable();
    context.disable();
  });

  it('starts nothing when neither Application Insights nor OTLP is configured', async () => {
    const telemetry = await startTelemetry({ serviceName: 'test', env: {} });
    expect(telemetry.exporter).toBe('none');
    expect(spansAreRecorded()).toBe(false);
    expect(await timed(() => telemetry.shutdown())).toBeLessThan(50);
  });

  it('exports over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, and shuts down promptly with no collector', async () => {
    // Port 9 (discard) has no listener: every export fails, and shutdown must neither throw nor hang.
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', 'http://127.0.0.1:9');
    const errors: string[] = [];
    const telemetry = await startTelemetry({
      serviceName: 'test',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' },
      onError: (message) => errors.push(message),
      shutdownTimeoutMs: 3000,
    });
    expect(telemetry.exporter).toBe('otlp');
    expect(spansAreRecorded()).toBe(true);
    const carrier: Record<string, string> = {};
    const span = trace.getTracer('test').startSpan('traced');
    propagation.inject(trace.setSpan(context.active(), span), carrier);
    span.end();
    expect(carrier.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(await timed(() => telemetry.shutdown())).toBeLessThan(3500);
  });

  it('prefers Application Insights when its connection string is set, without reaching the network', async () => {
    vi.stubEnv('APPLICATION_INSIGHTS_NO_STATSBEAT', 'true');
    const telemetry = await startTelemetry({
      serviceName: 'test',
      env: {
        APPLICATIONINSIGHTS_CONNECTION_STRING:
          'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
      },
      shutdownTimeoutMs: 3000,
    });
    expect(telemetry.exporter).toBe('azure-monitor');
    expect(spansAreRecorded()).toBe(true);
    expect(await timed(() => telemetry.shutdown())).toBeLessThan(3500);
  });
});
