import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, CommandOutcome, runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { providerInstallCountsProjection } from '../../projections/provider-install-counts.projection';
import { Publisher } from './provider.commands';
import { CatalogMetadata } from './provider.events';
import { KnownProvider, ProviderState, providerDecider } from './provider.decider';
import { ProviderId, canonicalOf, providerStream } from './provider-identity';
import { notFound } from '../domain/domain-error';

export interface MetadataUpdated {
  outcome: CommandOutcome<ProviderState>;
  provider: KnownProvider;
  /** From the catalog read model: installations live in other streams. */
  installCount: number;
}

export class UpdateProviderMetadataCommand extends Command<MetadataUpdated> {
  constructor(
    readonly provider: ProviderId,
    readonly changes: CatalogMetadata,
    readonly publisher: Publisher,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(UpdateProviderMetadataCommand)
export class UpdateProviderMetadataHandler implements ICommandHandler<UpdateProviderMetadataCommand, MetadataUpdated> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ provider, changes, publisher, context }: UpdateProviderMetadataCommand): Promise<MetadataUpdated> {
    const outcome = await runCommand(
      this.infrastructure.aggregates,
      providerDecider,
      providerStream(provider),
      { type: 'UpdateMetadata', provider, publisher, changes, now: context.now },
      context,
    );
    // The decider refuses an unknown provider; this only tells the compiler so.
    if (outcome.state.status === 'unknown') throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} does not exist.`);
    const { rows } = await this.infrastructure.pool.query<{ install_count: number }>(
      `SELECT install_count FROM ${providerInstallCountsProjection.table.name} WHERE prefix = $1 AND name = $2`,
      [provider.prefix, provider.name],
    );
    return { outcome, provider: outcome.state, installCount: rows[0]?.install_count ?? 0 };
  }
}
