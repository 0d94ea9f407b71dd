import { startProjections } from '../../libs/projection-engine/start-projections';
import { startProcessManagers } from '../process-managers/start-process-managers';
import { runProcess } from '../run-process';

// The read-model projections and process managers alone, one active replica per consumer.
runProcess('projections', async (infrastructure) => {
  const runners = [...startProjections(infrastructure), ...startProcessManagers(infrastructure)];
  return async () => {
    await Promise.all(runners.map((r) => r.stop()));
  };
});
