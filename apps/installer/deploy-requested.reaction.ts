import { PresentInstallation } from '../../libs/installations/installation.decider';
import { hashToken } from '../../libs/installations/registration-token';
import { InstallationEffects, causeOf } from './installation-effects';
import { DeployRequest, Recorded } from './installer-events';
import { Reaction, SpentAttempts, attemptsText } from './reaction';
import { RegistrationDeadlines } from './registration-deadlines';

/**
 * InstallRequested, UpgradeRequested, RedeployRequested, InstallationReconfigured (with a new
 * generation) → DeployStarted, the generation applied to the deployer, and a registration deadline.
 * Idempotent per (installation, generation): a redelivered request finds the deploy started and
 * applies the same generation again, which the deployer treats as a no-op.
 */
export class DeployRequestedReaction implements Reaction<Recorded<DeployRequest>> {
  constructor(
    private readonly effects: InstallationEffects,
    private readonly deadlines: RegistrationDeadlines,
  ) {}

  async react(event: Recorded<DeployRequest>): Promise<void> {
    const generation = event.data.generation;
    // A policy-only reconfiguration changes nothing that runs.
    if (generation === null) return;
    const stream = event.streamName;
    const { state } = await this.effects.load(stream);
    if (state.status !== 'present' || state.generation !== generation) {
      this.effects.logger.debug({ stream, generation }, 'deploy skipped: generation superseded');
      return;
    }
    const alreadyStarted = state.lifecycle === 'processing' && state.deployedGeneration === generation;
    if (state.lifecycle !== 'pending' && !alreadyStarted) {
      this.effects.logger.debug({ stream, generation, lifecycle: state.lifecycle }, 'deploy skipped: generation already settled');
      return;
    }
    const startedAt = alreadyStarted ? (state.deployStartedAt ?? state.updatedAt) : await this.startDeploy(event, state, generation);
    if (startedAt === undefined) return;

    const version = await this.effects.versionOf(state);
    // A version yanked between the upgrade and its deploy never starts rolling out (a redeploy or a
    // rollback onto a version that already ran is still the tenant's call).
    const refusal = !version ? 'is not published' : event.type === 'UpgradeRequested' && version.status === 'yanked' ? 'was yanked' : null;
    if (!version || refusal) {
      const message = `version ${state.installedVersion} of ${state.prefix}/${state.name} ${refusal}`;
      await this.effects.failDeploy(stream, state.installationId, generation, message, causeOf(event));
      return;
    }
    await this.effects.deployer.apply(this.effects.desiredFor(state, generation, version));
    await this.effects.observations.record(state.installationId);
    this.effects.logger.info({ stream, installationId: state.installationId, generation, version: state.installedVersion }, 'deploy applied; waiting for registration');
    this.deadlines.expect(stream, { installationId: state.installationId, generation, startedAt, cause: causeOf(event) });
  }

  async giveUp(event: Recorded<DeployRequest>, spent: SpentAttempts): Promise<void> {
    const generation = event.data.generation;
    if (generation === null) return;
    const { state } = await this.effects.load(event.streamName);
    if (state.status !== 'present') return;
    const message = `deploy failed after ${attemptsText(spent.attempts)}: ${spent.reason}`;
    await this.effects.failDeploy(event.streamName, state.installationId, generation, message, causeOf(event));
  }

  /** DeployStarted with the hash of the generation's token; when it started, or undefined if it did not. */
  private async startDeploy(event: Recorded<DeployRequest>, state: PresentInstallation, generation: number): Promise<string | undefined> {
    const token = this.effects.tokens.tokenFor(state.installationId, generation);
    const outcome = await this.effects.send(
      event.streamName,
      { type: 'StartDeploy', generation, tokenHash: hashToken(token), now: this.effects.now() },
      `deploy-start:${state.installationId}:${generation}`,
      causeOf(event),
    );
    const after = outcome.state;
    if (after.status !== 'present' || after.lifecycle !== 'processing' || after.deployedGeneration !== generation) return undefined;
    return after.updatedAt;
  }
}
