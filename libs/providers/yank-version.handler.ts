import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, CommandOutcome, runCommand } from '../application/command-runner';
import { ProviderState, providerDecider } from './provider.decider';
import { ProviderId, providerStream } from './provider-identity';
import { Infrastructure } from '../infrastructure/infrastructure';
import { Principal } from '../../apps/api/auth/principal';
import { INFRASTRUCTURE } from '../../apps/api/platform/tokens';

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
