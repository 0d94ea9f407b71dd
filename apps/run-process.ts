import { ConfigError, loadConfig } from '../libs/config/app-config';
import { Infrastructure, createInfrastructure } from '../libs/infrastructure/infrastructure';
import { startTracing } from '../libs/observability/start-tracing';

/**
 * Shared entry-point shape: read the config (a bad value ends the process with a clear message),
 * make the infrastructure, start the app, and on SIGTERM/SIGINT stop it and close connections.
 */
export function runProcess(name: string, start: (infrastructure: Infrastructure) => Promise<() => Promise<void>>): void {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
    process.exit(2);
  }
  void (async () => {
    const infrastructure = await createInfrastructure(config, name);
    const tracing = startTracing(name, infrastructure.logger);
    const app = await start(infrastructure);
    const stop = async () => {
      await app();
      await tracing.shutdown();
    };
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      infrastructure.logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => process.exit(1), 15_000);
      force.unref();
      void stop()
        .catch((error: unknown) => infrastructure.logger.error({ err: String(error) }, 'error while stopping'))
        .finally(() => infrastructure.close().finally(() => process.exit(0)));
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  })().catch((error: unknown) => {
    process.stderr.write(`${name} failed to start: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  });
}
