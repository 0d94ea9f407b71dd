import { Infrastructure } from '../infrastructure/infrastructure';
import { WorkerStatus } from './worker-status';

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { status: 'up' | 'down'; message?: string; consumers?: Record<string, string> }>;
}

/**
 * Ready means: the database and the event store answer, and every log consumer of this process is
 * either active and advancing or a healthy standby. A consumer that gave up, or one active but behind
 * with a checkpoint that has not moved for `consumerStallMs`, makes the process not ready.
 */
export async function checkReadiness(
  infrastructure: Pick<Infrastructure, 'pool' | 'eventStore' | 'config'>,
  workers: WorkerStatus,
): Promise<ReadinessReport> {
  const checks: ReadinessReport['checks'] = {};
  checks.database = await probe(async () => {
    await infrastructure.pool.query('SELECT 1');
  });
  checks.event_store = await probe(async () => {
    await infrastructure.eventStore.headPosition();
  });
  checks.subscriptions = await probe(async () => {
    const failing = workers.failing();
    if (failing.length > 0) throw new Error(`Log consumers stopped: ${failing.join(', ')}.`);
    const stalled = await workers.stalled();
    if (stalled.length > 0) {
      throw new Error(
        `Log consumers active but behind, with no progress for over ${infrastructure.config.consumerStallMs} ms: ${stalled.join(', ')}.`,
      );
    }
  });
  checks.subscriptions.consumers = workers.summary();
  return { ready: Object.values(checks).every((c) => c.status === 'up'), checks };
}

async function probe(check: () => Promise<void>): Promise<{ status: 'up' | 'down'; message?: string }> {
  try {
    await check();
    return { status: 'up' };
  } catch (error) {
    return { status: 'down', message: error instanceof Error ? error.message : String(error) };
  }
}
