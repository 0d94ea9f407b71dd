import { ConsumerRunner } from '../../libs/event-store/consumers/consumer-runner';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { AutoUpgradeProcessManager } from './auto-upgrade.process-manager';
import { AutoUpgradeWaves } from './auto-upgrade-waves';
import { HealthWatchdog } from './health-watchdog';
import { WheelValidationProcessManager } from './wheel-validation.process-manager';
import { startArtifactCollection } from '../../libs/artifacts/artifact-collector';
import { startIdempotencyPurge } from './idempotency-purge';

export interface Stoppable {
  stop(): Promise<void>;
}

export function startProcessManagers(infrastructure: Infrastructure): Array<ConsumerRunner | Stoppable> {
  let wavesRunner: ConsumerRunner | undefined;
  const waves = new AutoUpgradeWaves(infrastructure, infrastructure.logger, () => wavesRunner?.isActive ?? false);
  wavesRunner = new ConsumerRunner(infrastructure.pool, infrastructure.eventStore, waves, infrastructure.logger);
  wavesRunner.start();
  waves.start();
  const autoUpgrade = new ConsumerRunner(
    infrastructure.pool,
    infrastructure.eventStore,
    new AutoUpgradeProcessManager(infrastructure, infrastructure.logger, waves),
    infrastructure.logger,
  );
  autoUpgrade.start();
  const watchdog = new HealthWatchdog(infrastructure);
  watchdog.start();
  const wheelValidation = new ConsumerRunner(infrastructure.pool, infrastructure.eventStore, new WheelValidationProcessManager(infrastructure, infrastructure.logger), infrastructure.logger);
  wheelValidation.start();
  const wavesTimer: Stoppable = { stop: async () => waves.stop() };
  return [autoUpgrade, wavesTimer, wavesRunner, watchdog, ...startArtifactCollection(infrastructure), wheelValidation, startIdempotencyPurge(infrastructure)];
}
