import { loadConfig } from '../../libs/config/app-config';
import { createInfrastructure } from '../../libs/infrastructure/infrastructure';
import { startInstaller } from './installer';

/** `node dist/apps/installer/main.js`: the installer alone, as production and the reliability tests run it. */
async function main(): Promise<void> {
  const config = loadConfig();
  const infrastructure = await createInfrastructure(config, 'installer');
  const installer = await startInstaller(infrastructure);

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    infrastructure.logger.info({ signal }, 'installer shutting down');
    void installer
      .stop()
      .then(() => infrastructure.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          infrastructure.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'installer shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`installer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
