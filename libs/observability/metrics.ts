import { Counter, Gauge, Histogram, collectDefaultMetrics, register } from 'prom-client';

/**
 * Every metric the control plane exports, declared once on the process's default registry. The
 * names are a contract: the manifests' alerts and the Grafana dashboard under `deploy/` use them.
 * Declared lazily so that importing this module costs nothing in a process that never scrapes.
 */
interface Metrics {
  httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  deploysTotal: Counter<'deployer' | 'outcome'>;
  deployDuration: Histogram<'deployer' | 'outcome'>;
  consumerLagEvents: Gauge<'consumer'>;
  consumerLagSeconds: Gauge<'consumer'>;
  consumerCheckpointPosition: Gauge<'consumer'>;
  consumerActive: Gauge<'consumer'>;
  logHeadPosition: Gauge;
  installations: Gauge<'state' | 'health'>;
}

let metrics: Metrics | undefined;

export function observabilityMetrics(): Metrics {
  if (metrics) return metrics;
  collectDefaultMetrics({ register });
  metrics = {
    httpRequestDuration: new Histogram({
      name: 'provider_store_http_request_duration_seconds',
      help: 'HTTP request duration by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    deploysTotal: new Counter({
      name: 'provider_store_deploys_total',
      help: 'Deployments the installer asked for, by deployer and outcome',
      labelNames: ['deployer', 'outcome'],
    }),
    deployDuration: new Histogram({
      name: 'provider_store_deploy_duration_seconds',
      help: 'Time a deployer took to apply a deployment, by deployer and outcome',
      labelNames: ['deployer', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    }),
    consumerLagEvents: new Gauge({
      name: 'provider_store_consumer_lag_events',
      help: 'Events a log consumer follows that lie between its checkpoint and the head of the log',
      labelNames: ['consumer'],
    }),
    consumerLagSeconds: new Gauge({
      name: 'provider_store_consumer_lag_seconds',
      help: 'Age of the oldest event a log consumer has yet to handle (0 when caught up)',
      labelNames: ['consumer'],
    }),
    consumerCheckpointPosition: new Gauge({
      name: 'provider_store_consumer_checkpoint_position',
      help: "Commit part of a log consumer's checkpoint",
      labelNames: ['consumer'],
    }),
    consumerActive: new Gauge({
      name: 'provider_store_consumer_active',
      help: '1 when this replica runs the consumer, 0 when it stands by or stopped',
      labelNames: ['consumer'],
    }),
    logHeadPosition: new Gauge({ name: 'provider_store_log_head_position', help: 'Commit part of the head of the global log' }),
    installations: new Gauge({
      name: 'provider_store_installations',
      help: 'Installations by lifecycle state and health (from the installed-providers read model)',
      labelNames: ['state', 'health'],
    }),
  };
  return metrics;
}

/** The exposition the `/metrics` endpoints serve, with its content type. */
export async function metricsExposition(): Promise<{ contentType: string; body: string }> {
  observabilityMetrics();
  return { contentType: register.contentType, body: await register.metrics() };
}
