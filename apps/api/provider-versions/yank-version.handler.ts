import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, CommandOutcome, runCommand } from '../../../libs/application/command-runner';
import { ProviderState, providerDecider } from '../../../libs/domain/provider/provider.decider';
import { ProviderId, providerStream } from '../../../libs/domain/provider/provider-identity';
import { Infrastructure } from '../../../libs/infrastructure/infrastructure';
import { Principal } from '../auth/principal';
import { INFRASTRUCTURE } from '../platform/tokens';

export class YankVersionCommand {
  constructor(
    readonly provider: ProviderId,
    readonly version: string,
    readonly reason: string | null,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

@CommandHandler(YankVersionCommand)
export class YankVersionHandler implements ICommandHandler<YankVersionCommand, CommandOutcome<ProviderState>> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  execute({ provider, version, reason, principal, context }: YankVersionCommand): Promise<CommandOutcome<ProviderState>> {
    return runCommand(
      this.infrastructure.eventStore,
      providerDecider,
      providerStream(provider),
      {
        type: 'YankVersion',
        provider,
        publisher: { organizationId: principal.organizationId, platformAdmin: principal.platformAdmin },
        version,
        reason,
        now: context.now,
      },
      context,
    );
  }
}
