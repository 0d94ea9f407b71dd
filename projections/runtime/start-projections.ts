import { CheckpointStore } from '../../libs/event-store/consumers/checkpoint-store';
import { ConsumerRunner } from '../../libs/event-store/consumers/consumer-runner';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { PROJECTIONS } from '../projections';
import { ProjectionConsumer } from './projection-consumer';

/**
 * One runner per read model; each is active in at most one replica (advisory lock per consumer).
 * Locks, batches and checkpoints use the projections' own pool (`Infrastructure.projectionsPool`),
 * closed with the infrastructure, so that an API in the same process cannot starve them.
 */
export function startProjections(infrastructure: Infrastructure): ConsumerRunner[] {
  const pool = infrastructure.projectionsPool;
  const checkpoints = new CheckpointStore(pool);
  return PROJECTIONS.map((projection) => {
    const runner = new ConsumerRunner(pool, infrastructure.eventStore, new ProjectionConsumer(pool, projection, checkpoints), infrastructure.logger);
    runner.start();
    return runner;
  });
}
