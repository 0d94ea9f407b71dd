import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { HistoryPageResult, PageRequest, historyPage } from '../application/stream-history';
import { notFound } from '../domain/domain-error';
import { Infrastructure } from '../infrastructure/infrastructure';
import { Publisher } from './provider.commands';
import { mayPublishUnder } from './provider.decider';
import { ProviderId, canonicalOf, providerStream } from './provider-identity';

export class ProviderHistoryQuery extends Query<HistoryPageResult> {
  constructor(
    readonly provider: ProviderId,
    readonly reader: Publisher,
    readonly page: PageRequest,
  ) {
    super();
  }
}

/** A provider's events, for its publishing organisation and platform admins only. */
@QueryHandler(ProviderHistoryQuery)
export class ProviderHistoryHandler implements IQueryHandler<ProviderHistoryQuery, HistoryPageResult> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  execute({ provider, reader, page }: ProviderHistoryQuery): Promise<HistoryPageResult> {
    const missing = () => notFound('provider_not_found', `Provider ${canonicalOf(provider)} has no history you can see.`);
    // Other organisations see a 404, as for anything that is not theirs.
    if (!mayPublishUnder(reader, provider.prefix) && !reader.platformAdmin) throw missing();
    return historyPage(this.infrastructure.eventStore, providerStream(provider), page, missing);
  }
}
