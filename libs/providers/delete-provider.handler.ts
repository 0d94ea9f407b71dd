import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, CommandOutcome, runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { conflict } from '../domain/domain-error';
import { Infrastructure } from '../infrastructure/infrastructure';
import { installedProvidersProjection } from '../../projections/installed-providers.projection';
import { Publisher } from './provider.commands';
import { ProviderState, assertPublisher, providerDecider } from './provider.decider';
import { ProviderId, canonicalOf, providerStream } from './provider-identity';

export class DeleteProviderCommand extends Command<CommandOutcome<ProviderState>> {
  constructor(
    readonly provider: ProviderId,
    readonly publisher: Publisher,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/**
 * Installations live in other streams, so "in use" is read from the installed-providers read model:
 * an install racing the delete within the projection's lag can slip through, and keeps running the
 * version it has (its history stays).
 */
@CommandHandler(DeleteProviderCommand)
export class DeleteProviderHandler implements ICommandHandler<DeleteProviderCommand, CommandOutcome<ProviderState>> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ provider, publisher, context }: DeleteProviderCommand): Promise<CommandOutcome<ProviderState>> {
    // Only the publisher may learn whether (and how widely) the provider is installed.
    assertPublisher(publisher, provider);
    const { rows } = await this.infrastructure.pool.query<{ in_use: number }>(
      `SELECT count(*)::int AS in_use FROM ${installedProvidersProjection.table.name} WHERE prefix = $1 AND name = $2`,
      [provider.prefix, provider.name],
    );
    const inUse = rows[0].in_use;
    if (inUse > 0) {
      throw conflict('provider_in_use', `${canonicalOf(provider)} is installed by ${inUse} organisation(s); they must uninstall it first.`);
    }
    return runCommand(
      this.infrastructure.aggregates,
      providerDecider,
      providerStream(provider),
      { type: 'DeleteProvider', provider, publisher, now: context.now },
      context,
    );
  }
}
