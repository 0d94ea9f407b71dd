import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { installationDecider } from './installation.decider';
import { RuntimeCredentials, authenticateRuntime, runtimeContext } from './runtime-authentication';

export class RecordRegistrationCommand extends Command<void> {
  constructor(
    readonly credentials: RuntimeCredentials,
    readonly version: string,
    readonly endpoint: string | null,
  ) {
    super();
  }
}

/** A deployed runtime checks in; an old generation's check-in is acknowledged and changes nothing. */
@CommandHandler(RecordRegistrationCommand)
export class RecordRegistrationHandler implements ICommandHandler<RecordRegistrationCommand, void> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ credentials, version, endpoint }: RecordRegistrationCommand): Promise<void> {
    const { streamName, state } = await authenticateRuntime(this.infrastructure, credentials);
    const { installationId, generation } = credentials;
    const context = runtimeContext(state, `registration:${installationId}:${generation}:${version}`);
    await runCommand(
      this.infrastructure.eventStore,
      installationDecider,
      streamName,
      { type: 'RecordRegistration', generation, version, endpoint, now: context.now },
      context,
    );
  }
}
