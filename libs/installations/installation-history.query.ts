import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { HistoryPageResult, PageRequest, historyPage } from '../application/stream-history';
import { Infrastructure } from '../infrastructure/infrastructure';
import { ProviderId } from '../providers/provider-identity';
import { installationStream } from './installation-identity';
import { notInstalled } from './not-installed';

export class InstallationHistoryQuery extends Query<HistoryPageResult> {
  constructor(
    readonly tenant: string,
    readonly provider: ProviderId,
    readonly page: PageRequest,
  ) {
    super();
  }
}

/** An installation's events: the tenant's own stream only, so another's cannot even be named. */
@QueryHandler(InstallationHistoryQuery)
export class InstallationHistoryHandler implements IQueryHandler<InstallationHistoryQuery, HistoryPageResult> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  execute({ tenant, provider, page }: InstallationHistoryQuery): Promise<HistoryPageResult> {
    return historyPage(this.infrastructure.eventStore, installationStream(tenant, provider), page, () => notInstalled(provider));
  }
}
