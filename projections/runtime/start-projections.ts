import { ConsumerRunner } from '../../libs/event-store/consumers/consumer-runner';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { PROJECTIONS } from '../projections';
import { ProjectionConsumer } from './projection-consumer';

/** One runner per read model; each is active in at most one replica (advisory lock per consumer). */
export function startProjections(infrastructure: Infrastructure): ConsumerRunner[] {
  return PROJECTIONS.map((projection) => {
    const runner = new ConsumerRunner(
      infrastructure.pool,
      infrastructure.eventStore,
      new ProjectionConsumer(infrastructure.pool, projection, infrastructure.checkpoints),
      infrastructure.logger,
    );
    runner.start();
    return runner;
  });
}
