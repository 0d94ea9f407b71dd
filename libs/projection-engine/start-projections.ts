import { CheckpointStore } from '../event-store/consumers/checkpoint-store';
import { ConsumerRunner } from '../event-store/consumers/consumer-runner';
import { Infrastructure } from '../infrastructure/infrastructure';
import { PROJECTIONS } from '../../projections/projections';
import { ProjectionConsumer } from './projection-consumer';
import { isInline } from './inline-projections';

/**
 * One runner per read model; each is active in at most one replica (advisory lock per consumer).
 * Batches and checkpoints use `Infrastructure.projectionsPool`: the process's pool, or with
 * PROJECTIONS_POOL_SIZE > 0 one of their own, ended with the infrastructure. The lock sessions are
 * opened with that pool's settings, beside it. A read model the store writes inline (PostgreSQL) has
 * a runner too, which only follows the log with its checkpoint.
 */
export function startProjections(infrastructure: Infrastructure): ConsumerRunner[] {
  const pool = infrastructure.projectionsPool;
  const checkpoints = pool === infrastructure.pool ? infrastructure.checkpoints : new CheckpointStore(pool);
  return PROJECTIONS.map((projection) => {
    const runner = new ConsumerRunner(pool, infrastructure.eventStore, new ProjectionConsumer(pool, projection, checkpoints, { appliedInline: isInline(infrastructure.eventStore, projection) }), infrastructure.logger);
    runner.start();
    return runner;
  });
}
