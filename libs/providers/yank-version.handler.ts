import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { Publisher } from './provider.commands';
import { providerDecider } from './provider.decider';
import { ProviderId, providerStream } from './provider-identity';
import { VersionOutcome, versionOutcome } from './version-selection';

export class YankVersionCommand extends Command<VersionOutcome> {
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
export class YankVersionHandler implements ICommandHandler<YankVersionCommand, VersionOutcome> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ provider, version, reason, publisher, context }: YankVersionCommand): Promise<VersionOutcome> {
    const outcome = await runCommand(
      this.infrastructure.aggregates,
      providerDecider,
      providerStream(provider),
      { type: 'YankVersion', provider, publisher, version, reason, now: context.now },
      context,
    );
    return versionOutcome(outcome, provider, version);
  }
}
