import { runProcess } from '../run-process';
import { createApi } from './create-api';

// The REST API alone: stateless, as many replicas as load needs.
runProcess('api', async (infrastructure) => {
  const app = await createApi(infrastructure);
  await app.listen(infrastructure.config.port, infrastructure.config.host);
  infrastructure.logger.info({ port: infrastructure.config.port }, 'api listening');
  return () => app.close();
});
