import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Logger } from 'pino';

export interface Tracing {
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK with an OTLP/HTTP exporter when OTEL_EXPORTER_OTLP_ENDPOINT is set
 * (the exporter reads that and the other standard OTEL_* variables itself). Otherwise nothing is
 * registered and tracing stays a no-op: no exporter retrying against an absent collector.
 * No auto-instrumentation: the spans that matter (HTTP, append, consumer, deploy) are ours.
 */
export function startTracing(serviceName: string, logger: Logger, env: NodeJS.ProcessEnv = process.env): Tracing {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT) return { shutdown: async () => undefined };
  const sdk = new NodeSDK({ serviceName: env.OTEL_SERVICE_NAME || serviceName, traceExporter: new OTLPTraceExporter(), instrumentations: [] });
  sdk.start();
  logger.info({ endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT }, 'tracing exported over OTLP');
  return { shutdown: () => sdk.shutdown() };
}
