import type { Logger } from 'pino';
import { AppConfig } from '../../libs/config/app-config';
import { ConsumerRunner } from '../../libs/event-store/consumers/consumer-runner';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { Deployer } from './deployer.port';
import { InstallerConsumer } from './installer.consumer';
import { LocalProcessDeployer } from './local-process/local-process.deployer';
import { RegistrationTokens } from '../../libs/installations/registration-token';
import { installationSecretsOf } from '../../libs/secrets/installation-secrets';
import { SecretRevealingDeployer } from './secret-revealing.deployer';
import { instrumentDeployer } from '../../libs/observability/observed-deployer';

export interface RunningInstaller {
  deployer: Deployer;
  consumer: InstallerConsumer;
  runner: ConsumerRunner;
  stop(): Promise<void>;
}

export interface InstallerOverrides {
  /** A deployer made by the caller (tests); it is closed with the installer all the same. */
  deployer?: Deployer;
  /** Defaults to PUBLIC_URL, else this host on PORT. */
  storeUrl?: string;
  watchdogIntervalMs?: number;
}

/** Where runtimes call back: the public URL when one is configured, else the API on this machine. */
export function storeUrlOf(config: AppConfig): string {
  return (config.publicUrl ?? `http://127.0.0.1:${config.port}`).replace(/\/+$/, '');
}

export async function createDeployer(config: AppConfig, logger: Logger): Promise<Deployer> {
  if (config.installer.deployer === 'kubernetes') {
    // Loaded only when chosen: the client library is large and the embedded default never needs it.
    const { KubernetesDeployer } = await import('./kubernetes/kubernetes.deployer');
    return new KubernetesDeployer({
      namespace: config.kubernetes.namespace,
      runtimeImage: config.kubernetes.runtimeImage,
      heartbeatIntervalMs: config.installer.runtimeHeartbeatIntervalMs,
      requestTimeoutMs: config.rollouts.kubernetesRequestTimeoutMs,
      logger,
    });
  }
  return new LocalProcessDeployer({
    logger,
    runtimeCommand: config.installer.runtimeCommand,
    effectLogFile: config.installer.effectLogFile,
    runtimeDir: config.installer.runtimeDir,
    uidBase: config.installer.runtimeUidBase,
    heartbeatIntervalMs: config.installer.runtimeHeartbeatIntervalMs,
  });
}

/**
 * The installer as a part of any process: builds the deployer the configuration names and runs the
 * installer consumer under its advisory lock (active in one replica, standing by in the others).
 */
export async function startInstaller(
  infrastructure: Pick<Infrastructure, 'config' | 'logger' | 'pool' | 'eventStore' | 'checkpoints' | 'aggregates' | 'providerFacts'>,
  overrides: InstallerOverrides = {}): Promise<RunningInstaller> {
  const { config, logger, pool, eventStore, checkpoints, aggregates, providerFacts } = infrastructure;
  const installerLogger = logger.child({ app: 'installer' });
  const tokens = await RegistrationTokens.load(pool);
  const deployer = instrumentDeployer(overrides.deployer ?? (await createDeployer(config, installerLogger)));
  let runner: ConsumerRunner | undefined;
  const consumer = new InstallerConsumer({
    store: eventStore,
    aggregates,
    providerFacts,
    pool,
    checkpoints,
    // Sealed config is opened only here, just before the deployer hands it to the runtime.
    deployer: new SecretRevealingDeployer(deployer, await installationSecretsOf({ pool, config })),
    tokens,
    logger: installerLogger,
    storeUrl: overrides.storeUrl ?? storeUrlOf(config),
    concurrency: config.installer.concurrency,
    maxAttempts: config.installer.maxAttempts,
    retryBaseMs: config.installer.retryBaseMs,
    registrationTimeoutMs: config.installer.registrationTimeoutMs,
    watchdogIntervalMs: overrides.watchdogIntervalMs,
    isActive: () => runner?.isActive ?? false,
  });
  runner = new ConsumerRunner(pool, eventStore, consumer, installerLogger);
  runner.start();
  consumer.startTimers();
  installerLogger.info({ deployer: deployer.kind, storeUrl: overrides.storeUrl ?? storeUrlOf(config) }, 'installer started');

  const started = runner;
  let stopping: Promise<void> | undefined;
  return {
    deployer,
    consumer,
    runner: started,
    stop: () =>
      (stopping ??= (async () => {
        consumer.stopTimers();
        await started.stop();
        await deployer.close();
        installerLogger.info('installer stopped');
      })()),
  };
}
