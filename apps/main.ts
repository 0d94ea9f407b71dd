import { startProjections } from '../libs/projection-engine/start-projections';
import { createApi } from './api/create-api';
import { WorkerStatus } from './api/operations/worker-status';
import { startInstaller } from './installer/installer';
import { startProcessManagers } from './process-managers/start-process-managers';
import { runProcess } from './run-process';

// `npm start`: the whole system in one process — API, projections, process managers and installer.
// Each part can also run alone (dist/apps/api/main.js, dist/apps/projections/main.js,
// dist/apps/installer/main.js), which is how production and the reliability tests run them.
runProcess('provider-store', async (infrastructure) => {
  const app = await createApi(infrastructure);
  await app.listen(infrastructure.config.port, infrastructure.config.host);
  const projections = startProjections(infrastructure);
  const processManagers = startProcessManagers(infrastructure);
  const installer = await startInstaller(infrastructure);
  app.get(WorkerStatus).track([...projections, installer.runner]);
  infrastructure.logger.info({ port: infrastructure.config.port, url: `http://127.0.0.1:${infrastructure.config.port}` }, 'provider-store ready');
  return async () => {
    await installer.stop();
    await Promise.all([...projections, ...processManagers].map((r) => r.stop()));
    await app.close();
  };
});
