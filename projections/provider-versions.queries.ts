import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { Inject } from '@nestjs/common';
import * as semver from 'semver';
import { notFound } from '../libs/domain/domain-error';
import { ProviderId, canonicalOf } from '../libs/providers/provider-identity';
import { Infrastructure } from '../libs/infrastructure/infrastructure';
import { CatalogProviderRow } from '../libs/read-models/entities/catalog-provider.entity';
import { ProviderVersionRow } from '../libs/read-models/entities/provider-version.entity';
import { INFRASTRUCTURE } from '../apps/api/platform/tokens';

export class ListVersionsQuery {
  constructor(
    readonly provider: ProviderId,
    readonly status: string | undefined,
    readonly limit: number,
    readonly offset: number,
  ) {}
}

export class GetVersionQuery {
  constructor(
    readonly provider: ProviderId,
    readonly version: string,
  ) {}
}

@QueryHandler(ListVersionsQuery)
export class ListVersionsHandler implements IQueryHandler<ListVersionsQuery, { items: ProviderVersionRow[]; total: number }> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ provider, status, limit, offset }: ListVersionsQuery) {
    const listed = await this.infrastructure.dataSource.getRepository(CatalogProviderRow).exist({ where: { prefix: provider.prefix, name: provider.name } });
    if (!listed) throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} does not exist.`);
    const rows = await this.infrastructure.dataSource
      .getRepository(ProviderVersionRow)
      .find({ where: { prefix: provider.prefix, name: provider.name, ...(status ? { status } : {}) } });
    // Semver precedence (numeric prerelease parts, build metadata ignored) does not sort in SQL; a
    // provider has at most a few hundred versions, so the page is cut after sorting here.
    rows.sort((a, b) => semver.rcompare(a.version, b.version));
    return { items: rows.slice(offset, offset + limit), total: rows.length };
  }
}

export interface VersionWithRevision {
  row: ProviderVersionRow;
  /** Revision of the provider stream as the read models know it: the ETag a yank's If-Match needs. */
  streamRevision: string;
}

@QueryHandler(GetVersionQuery)
export class GetVersionHandler implements IQueryHandler<GetVersionQuery, VersionWithRevision> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ provider, version }: GetVersionQuery) {
    const row = await this.infrastructure.dataSource
      .getRepository(ProviderVersionRow)
      .findOne({ where: { prefix: provider.prefix, name: provider.name, version } });
    if (!row) {
      // As the list and the yank say: an unknown provider is not a missing version of a known one.
      const listed = await this.infrastructure.dataSource.getRepository(CatalogProviderRow).exist({ where: { prefix: provider.prefix, name: provider.name } });
      if (!listed) throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} does not exist.`);
      throw notFound('version_not_found', `${canonicalOf(provider)} has no version ${version}.`);
    }
    const catalog = await this.infrastructure.dataSource
      .getRepository(CatalogProviderRow)
      .findOne({ select: { prefix: true, name: true, revision: true }, where: { prefix: provider.prefix, name: provider.name } });
    // Two projections, each possibly a step behind the other: the higher revision is the newer truth.
    const streamRevision = catalog && BigInt(catalog.revision) > BigInt(row.revision) ? catalog.revision : row.revision;
    return { row, streamRevision };
  }
}
