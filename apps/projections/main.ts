import { startProjections } from '../../libs/projection-engine/start-projections';
import { observeProcess } from '../../libs/observability/observe-process';
import { startProcessManagers } from '../process-managers/start-process-managers';
import { runProcess } from '../run-process';

// The read-model projections and process managers alone, one active replica per consumer; health
// and metrics on HEALTH_PORT.
runProcess('projections', async (infrastructure) => {
  const projections = startProjections(infrastructure);
  const processManagers = startProcessManagers(infrastructure);
  const observed = await observeProcess(infrastructure, projections);
  return async () => {
    await observed.stop();
    await Promise.all([...projections, ...processManagers].map((r) => r.stop()));
  };
});
