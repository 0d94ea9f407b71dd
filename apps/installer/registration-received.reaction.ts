import { InstallationEffects } from './installation-effects';
import { Recorded } from './installer-events';
import { RegistrationReceived } from '../../libs/installations/installation.events';
import { Reaction, SpentAttempts, attemptsText } from './reaction';
import { RegistrationDeadlines } from './registration-deadlines';

/** RegistrationReceived → the generation's deadline is met and every older generation is retired. */
export class RegistrationReceivedReaction implements Reaction<Recorded<RegistrationReceived>> {
  constructor(
    private readonly effects: InstallationEffects,
    private readonly deadlines: RegistrationDeadlines,
  ) {}

  async react(event: Recorded<RegistrationReceived>): Promise<void> {
    const stream = event.streamName;
    const generation = event.data.generation;
    this.deadlines.met(stream, generation);
    const { state } = await this.effects.load(stream);
    if (state.status !== 'present' || state.lifecycle === 'deleting') return;
    // Only older generations go: a redelivered registration never touches a newer deploy.
    await this.effects.deployer.retire(state.installationId, generation);
    await this.effects.observations.record(state.installationId);
    this.effects.logger.info({ stream, installationId: state.installationId, generation }, 'generation registered; older generations retired');
  }

  /**
   * The registered generation runs and serves the tenant; only older ones could not be stopped. The
   * installation has not failed, so nothing is appended to it: the log line is for an operator.
   */
  async giveUp(event: Recorded<RegistrationReceived>, spent: SpentAttempts): Promise<void> {
    this.effects.logger.error(
      { stream: event.streamName, generation: event.data.generation, attempts: spent.attempts, err: spent.reason },
      `older generations not retired after ${attemptsText(spent.attempts)}; they may still be running`,
    );
  }
}
