import { UninstallRequested } from '../../libs/installations/installation.events';
import { InstallationEffects, causeOf } from './installation-effects';
import { Recorded } from './installer-events';
import { Reaction, SpentAttempts, attemptsText } from './reaction';
import { RegistrationDeadlines } from './registration-deadlines';
import { shredsSecrets } from './secret-revealing.deployer';

/** UninstallRequested → everything of the installation removed from the deployer, then Uninstalled. */
export class UninstallRequestedReaction implements Reaction<Recorded<UninstallRequested>> {
  constructor(
    private readonly effects: InstallationEffects,
    private readonly deadlines: RegistrationDeadlines,
  ) {}

  async react(event: Recorded<UninstallRequested>): Promise<void> {
    const stream = event.streamName;
    const generation = event.data.generation;
    this.deadlines.cancel(stream);
    const { state } = await this.effects.load(stream);
    // Absent: the uninstall already completed (its removal came first), nothing is left to do.
    if (state.status !== 'present' || state.lifecycle !== 'deleting' || state.generation !== generation) return;
    await this.effects.deployer.remove(state.installationId);
    await this.effects.observations.forget(state.installationId);
    // Nothing of the installation runs any more and nothing will deploy it again: its secrets are
    // destroyed now, before Uninstalled, so a crash in between repeats this step rather than skip it.
    if (shredsSecrets(this.effects.deployer)) await this.effects.deployer.shredSecrets(state.installationId);
    await this.effects.send(stream, { type: 'CompleteUninstall', generation, now: this.effects.now() }, `uninstalled:${state.installationId}:${generation}`, causeOf(event));
    this.effects.logger.info({ stream, installationId: state.installationId }, 'installation removed');
  }

  /** The uninstall is marked failed (the tenant sees why and can DELETE again) instead of staying `deleting`. */
  async giveUp(event: Recorded<UninstallRequested>, spent: SpentAttempts): Promise<void> {
    const generation = event.data.generation;
    const { state } = await this.effects.load(event.streamName);
    if (state.status !== 'present' || state.lifecycle !== 'deleting' || state.generation !== generation) return;
    const message = `removal failed after ${attemptsText(spent.attempts)}: ${spent.reason}`;
    await this.effects.recordFailure(event.streamName, state.installationId, generation, message, causeOf(event));
  }
}
