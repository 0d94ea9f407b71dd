import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { INFRASTRUCTURE } from '../libs/application/infrastructure-token';
import { notFound } from '../libs/domain/domain-error';
import { Infrastructure } from '../libs/infrastructure/infrastructure';
import { ProviderId, canonicalOf } from '../libs/providers/provider-identity';
import { ProviderResponse } from '../apps/api/catalog/catalog.dto';
import { CatalogRow, providerFromRow } from '../apps/api/catalog/catalog-provider.mapping';
import { catalogProjection } from './catalog.projection';

const CATALOG = catalogProjection.table.name;
/** $1: an ILIKE pattern or null; $2: a JSON array of tags or null. */
const SEARCH = `WHERE ($1::text IS NULL OR p.prefix || '/' || p.name ILIKE $1 OR p.display_name ILIKE $1 OR p.description ILIKE $1)
    AND ($2::jsonb IS NULL OR p.tags @> $2::jsonb)`;

export interface CatalogPage {
  items: ProviderResponse[];
  total: number;
  limit: number;
  offset: number;
}

export class SearchCatalogQuery extends Query<CatalogPage> {
  constructor(
    /** Text in the canonical name, display name or description. */
    readonly text: string | undefined,
    /** A provider must carry all of them. */
    readonly tags: string[],
    readonly page: { limit: number; offset: number },
  ) {
    super();
  }
}

export class GetCatalogEntryQuery extends Query<ProviderResponse> {
  constructor(readonly provider: ProviderId) {
    super();
  }
}

/** Most installed first; the page and the total in one round trip. */
@QueryHandler(SearchCatalogQuery)
export class SearchCatalogHandler implements IQueryHandler<SearchCatalogQuery, CatalogPage> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'pool'>) {}

  async execute({ text, tags, page }: SearchCatalogQuery): Promise<CatalogPage> {
    const like = text ? `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
    const { rows } = await this.infrastructure.pool.query<CatalogRow & { total: number }>(
      `SELECT p.*, count(*) OVER ()::int AS total FROM ${CATALOG} p
${SEARCH}
        ORDER BY p.install_count DESC, p.prefix, p.name
        LIMIT $3 OFFSET $4`,
      [like, tags.length > 0 ? JSON.stringify(tags) : null, page.limit, page.offset],
    );
    const total = rows[0]?.total ?? (await this.count(like, tags));
    return { items: rows.map(providerFromRow), total, limit: page.limit, offset: page.offset };
  }

  /** Only for a page past the end, where the window function has no row to ride on. */
  private async count(like: string | null, tags: string[]): Promise<number> {
    const { rows } = await this.infrastructure.pool.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM ${CATALOG} p
${SEARCH}`,
      [like, tags.length > 0 ? JSON.stringify(tags) : null],
    );
    return rows[0].total;
  }
}

@QueryHandler(GetCatalogEntryQuery)
export class GetCatalogEntryHandler implements IQueryHandler<GetCatalogEntryQuery, ProviderResponse> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'pool'>) {}

  async execute({ provider }: GetCatalogEntryQuery): Promise<ProviderResponse> {
    const { rows } = await this.infrastructure.pool.query<CatalogRow>(`SELECT * FROM ${CATALOG} WHERE prefix = $1 AND name = $2`, [provider.prefix, provider.name]);
    if (!rows[0]) throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} does not exist.`);
    return providerFromRow(rows[0]);
  }
}
