import { observeProcess } from '../../libs/observability/observe-process';
import { runProcess } from '../run-process';
import { startInstaller } from './installer';

// `node dist/apps/installer/main.js`: the installer alone, as production and the reliability tests
// run it; health and metrics on HEALTH_PORT.
runProcess('installer', async (infrastructure) => {
  const installer = await startInstaller(infrastructure);
  const observed = await observeProcess(infrastructure, [installer.runner]);
  return async () => {
    await observed.stop();
    await installer.stop();
  };
});
