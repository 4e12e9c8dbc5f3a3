/**
 * Starts OpenTelemetry for one process, chosen by the environment:
 * - APPLICATIONINSIGHTS_CONNECTION_STRING set → Azure Monitor (Application Insights) through its distro;
 * - else OTEL_EXPORTER_OTLP_ENDPOINT set → OTLP traces and metrics (OTEL_EXPORTER_OTLP_PROTOCOL:
 *   http/protobuf by default, http/json or grpc; the exporters read the other OTEL_* variables themselves);
 * - else nothing: the OpenTelemetry API stays a no-op and costs nothing.
 * Telemetry never stops the pipeline: a failure to start is reported and ignored, and shutdown (which
 * flushes) gives up after a few seconds.
 */
import { enableMetrics } from './metrics.ts';

export interface Telemetry {
  /** What was started: 'azure-monitor', 'otlp' or 'none'. */
  readonly exporter: 'azure-monitor' | 'otlp' | 'none';
  /** Flushes and stops; resolves within `shutdownTimeoutMs` whatever the exporters do. */
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /** The service's short name: the resource's service.name is `fhir-migrate-<serviceName>`. */
  serviceName: string;
  env?: NodeJS.ProcessEnv;
  /** Told about failures to start or flush (default: ignored). */
  onError?: (message: string, error: unknown) => void;
  /** Longest wait for the final flush (default 5000 ms). */
  shutdownTimeoutMs?: number;
}

const none: Telemetry = { exporter: 'none', shutdown: async () => {} };

export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const env = options.env ?? process.env;
  const onError = options.onError ?? (() => {});
  const serviceName = `fhir-migrate-${options.serviceName}`;
  const exporter = env.APPLICATIONINSIGHTS_CONNECTION_STRING
    ? 'azure-monitor'
    : env.OTEL_EXPORTER_OTLP_ENDPOINT
      ? 'otlp'
      : 'none';
  if (exporter === 'none') return none;
  let stop: () => Promise<void>;
  try {
    stop =
      exporter === 'azure-monitor'
        ? await startAzureMonitor(serviceName, env.APPLICATIONINSIGHTS_CONNECTION_STRING ?? '')
        : await startOtlp(serviceName);
  } catch (err) {
    onError('telemetry did not start; carrying on without it', err);
    return none;
  }
  enableMetrics(true);
  let stopped: Promise<void> | undefined;
  return {
    exporter,
    shutdown() {
      stopped ??= bounded(stop(), options.shutdownTimeoutMs ?? 5000).then(
        (finished) => {
          enableMetrics(false);
          if (!finished) onError('telemetry flush timed out; some spans or metrics may be lost', undefined);
        },
        (err: unknown) => {
          enableMetrics(false);
          onError('telemetry flush failed; some spans or metrics may be lost', err);
        },
      );
      return stopped;
    },
  };
}

/** Resolves true when `work` settles in time, false when `ms` pass first (rejects if `work` does). */
function bounded(work: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  return Promise.race([work.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

async function startOtlp(serviceName: string): Promise<() => Promise<void>> {
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  // Traces and metrics exporters come from the OTEL_* environment (OTLP unless OTEL_*_EXPORTER says
  // otherwise); logs stay in pino, so no log exporter (it would default to OTLP too).
  const sdk = new NodeSDK({ serviceName, instrumentations: [], logRecordProcessors: [] });
  sdk.start();
  return () => sdk.shutdown();
}

async function startAzureMonitor(
  serviceName: string,
  connectionString: string,
): Promise<() => Promise<void>> {
  const [{ useAzureMonitor, shutdownAzureMonitor }, { resources }] = await Promise.all([
    import('@azure/monitor-opentelemetry'),
    import('@opentelemetry/sdk-node'),
  ]);
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString },
    resource: resources.resourceFromAttributes({ 'service.name': serviceName }),
    enableLiveMetrics: false,
  });
  return () => shutdownAzureMonitor();
}
