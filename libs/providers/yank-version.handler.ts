import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, CommandOutcome, runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { Publisher } from './provider.commands';
import { ProviderState, providerDecider } from './provider.decider';
import { ProviderId, providerStream } from './provider-identity';

export class YankVersionCommand extends Command<CommandOutcome<ProviderState>> {
  constructor(
    readonly provider: ProviderId,
    readonly version: string,
    readonly reason: string | null,
    readonly publisher: Publisher,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(YankVersionCommand)
export class YankVersionHandler implements ICommandHandler<YankVersionCommand, CommandOutcome<ProviderState>> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  execute({ provider, version, reason, publisher, context }: YankVersionCommand): Promise<CommandOutcome<ProviderState>> {
    return runCommand(
      this.infrastructure.eventStore,
      providerDecider,
      providerStream(provider),
      { type: 'YankVersion', provider, publisher, version, reason, now: context.now },
      context,
    );
  }
}
