import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { conflict } from '../domain/domain-error';
import { sameVersion } from '../wheels/wheel-inspection';
import { RunningWheel } from './installation.commands';
import { installationDecider } from './installation.decider';
import { RuntimeCredentials, authenticateRuntime, runtimeContext } from './runtime-authentication';

export class RecordRegistrationCommand extends Command<void> {
  constructor(
    readonly credentials: RuntimeCredentials,
    readonly version: string,
    readonly endpoint: string | null,
    readonly wheel?: RunningWheel,
  ) {
    super();
  }
}

/** A deployed runtime checks in; an old generation's check-in is acknowledged and changes nothing. */
@CommandHandler(RecordRegistrationCommand)
export class RecordRegistrationHandler implements ICommandHandler<RecordRegistrationCommand, void> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ credentials, version, endpoint, wheel }: RecordRegistrationCommand): Promise<void> {
    const { streamName, state } = await authenticateRuntime(this.infrastructure, credentials);
    const { installationId, generation } = credentials;
    // A runtime that loaded another wheel than the version it was deployed for is a failed deploy.
    if (wheel && !sameVersion(wheel.version, state.installedVersion)) {
      const message = `The runtime loaded wheel ${wheel.name} ${wheel.version}, not version ${state.installedVersion}; the deploy failed.`;
      const failure = runtimeContext(state, `wheel-mismatch:${installationId}:${generation}`);
      await runCommand(this.infrastructure.aggregates, installationDecider, streamName, { type: 'FailDeploy', generation, message, now: failure.now }, failure);
      throw conflict('wheel_mismatch', message);
    }
    const context = runtimeContext(state, `registration:${installationId}:${generation}:${version}`);
    await runCommand(
      this.infrastructure.aggregates,
      installationDecider,
      streamName,
      { type: 'RecordRegistration', generation, version, endpoint, wheel, now: context.now },
      context,
    );
  }
}
