import { ConsumerRunner } from '../event-store/consumers/consumer-runner';
import { Infrastructure } from '../infrastructure/infrastructure';
import { HealthServer, startHealthServer } from './health-server';
import { trackProcessMetrics } from './process-metrics';
import { checkReadiness } from './readiness';
import { WorkerStatus } from './worker-status';

export interface ObservedProcess {
  /** Absent when HEALTH_PORT was taken (logged as an error; the process's probes then fail visibly). */
  health?: HealthServer;
  workers: WorkerStatus;
  stop(): Promise<void>;
}

/**
 * Makes a worker process (installer, projections) observable: its consumers feed readiness and the
 * scrape-time gauges, and `/health/live`, `/health/ready`, `/metrics` are served on HEALTH_PORT.
 */
export async function observeProcess(
  infrastructure: Pick<Infrastructure, 'config' | 'logger' | 'pool' | 'eventStore' | 'checkpoints'>,
  runners: readonly ConsumerRunner[],
): Promise<ObservedProcess> {
  const workers = new WorkerStatus(infrastructure);
  workers.track([...runners]);
  const untrack = trackProcessMetrics({ ...infrastructure, runners: () => runners });
  // A taken port must not stop the consumers: several workers on one machine (development, the
  // process tests) share the default port, and in a pod the failing probe says what is wrong.
  const health = await startHealthServer({
    port: infrastructure.config.healthPort,
    host: infrastructure.config.host,
    logger: infrastructure.logger,
    readiness: () => checkReadiness(infrastructure, workers),
  }).catch((error: unknown) => {
    infrastructure.logger.error(
      { port: infrastructure.config.healthPort, err: error instanceof Error ? error.message : String(error) },
      'health and metrics not served: HEALTH_PORT could not be opened',
    );
    return undefined;
  });
  return {
    health,
    workers,
    stop: async () => {
      untrack();
      await health?.close();
    },
  };
}
