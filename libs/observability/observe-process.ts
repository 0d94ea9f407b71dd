import { ConsumerRunner } from '../event-store/consumers/consumer-runner';
import { Infrastructure } from '../infrastructure/infrastructure';
import { HealthServer, startHealthServer } from './health-server';
import { trackProcessMetrics } from './process-metrics';
import { checkReadiness } from './readiness';
import { WorkerStatus } from './worker-status';

export interface ObservedProcess {
  health: HealthServer;
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
  const health = await startHealthServer({
    port: infrastructure.config.healthPort,
    host: infrastructure.config.host,
    logger: infrastructure.logger,
    readiness: () => checkReadiness(infrastructure, workers),
  });
  return {
    health,
    workers,
    stop: async () => {
      untrack();
      await health.close();
    },
  };
}
