import { ConsumerRunner } from '../../libs/event-store/consumers/consumer-runner';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { AutoUpgradeProcessManager } from './auto-upgrade.process-manager';
import { HealthWatchdog } from './health-watchdog';
import { WheelValidationProcessManager } from './wheel-validation.process-manager';
import { startArtifactCollection } from '../../libs/artifacts/artifact-collector';

export interface Stoppable {
  stop(): Promise<void>;
}

export function startProcessManagers(infrastructure: Infrastructure): Array<ConsumerRunner | Stoppable> {
  const autoUpgrade = new ConsumerRunner(
    infrastructure.pool,
    infrastructure.eventStore,
    new AutoUpgradeProcessManager(infrastructure, infrastructure.logger),
    infrastructure.logger,
  );
  autoUpgrade.start();
  const watchdog = new HealthWatchdog(infrastructure);
  watchdog.start();
  const wheelValidation = new ConsumerRunner(infrastructure.pool, infrastructure.eventStore, new WheelValidationProcessManager(infrastructure, infrastructure.logger), infrastructure.logger);
  wheelValidation.start();
  return [autoUpgrade, watchdog, ...startArtifactCollection(infrastructure), wheelValidation];
}
