import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { INFRASTRUCTURE } from '../libs/application/infrastructure-token';
import { notFound } from '../libs/domain/domain-error';
import { Infrastructure } from '../libs/infrastructure/infrastructure';
import { ProviderId, canonicalOf } from '../libs/providers/provider-identity';
import { ProviderResponse } from '../apps/api/catalog/catalog.dto';
import { CatalogRow, providerFromRow } from '../apps/api/catalog/catalog-provider.mapping';
import { catalogProjection } from './catalog.projection';
import { providerInstallCountsProjection } from './provider-install-counts.projection';
import { Publisher } from '../libs/providers/provider.commands';
import { ProviderScope } from '../libs/providers/provider.events';

const CATALOG = catalogProjection.table.name;
/** Catalog rows `p` with their install count (no row: nobody has it installed). */
const CATALOG_WITH_COUNTS = `${CATALOG} p LEFT JOIN ${providerInstallCountsProjection.table.name} n ON n.prefix = p.prefix AND n.name = p.name`;
const WITH_COUNT = `p.*, coalesce(n.install_count, 0)::int AS install_count`;
/** The SQL of `isVisibleTo` (libs/providers/provider.decider.ts) on a catalog row `p`, reader in $3/$4. */
const VISIBLE_TO_READER = `(p.scope = 'public' OR p.owner_org = $3 OR $4::boolean)`;
/**
 * $1: an ILIKE pattern or null; $2: a JSON array of tags or null; $3: the reader's organisation;
 * $4: whether the reader is a platform admin; $5: the scope asked for, or null for any the reader may see.
 */
const SEARCH = `WHERE ($1::text IS NULL OR p.prefix || '/' || p.name ILIKE $1 OR p.display_name ILIKE $1 OR p.description ILIKE $1)
    AND ($2::jsonb IS NULL OR p.tags @> $2::jsonb)
    AND ${VISIBLE_TO_READER}
    AND ($5::text IS NULL OR ($5 = 'public' AND p.scope = 'public') OR ($5 = 'tenant' AND p.scope = 'tenant' AND p.owner_org = $3))`;

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
    /** Private providers are listed only to their own organisation (and platform admins). */
    readonly reader: Publisher,
    readonly scope?: ProviderScope,
  ) {
    super();
  }
}

/** A private provider another organisation asks for is reported missing, as if it did not exist. */
export class GetCatalogEntryQuery extends Query<ProviderResponse> {
  constructor(
    readonly provider: ProviderId,
    readonly reader: Publisher,
  ) {
    super();
  }
}

/** Most installed first; the page and the total in one round trip. */
@QueryHandler(SearchCatalogQuery)
export class SearchCatalogHandler implements IQueryHandler<SearchCatalogQuery, CatalogPage> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'pool'>) {}

  async execute({ text, tags, page, reader, scope }: SearchCatalogQuery): Promise<CatalogPage> {
    const like = text ? `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
    const filters = [like, tags.length > 0 ? JSON.stringify(tags) : null, reader.organizationId, reader.platformAdmin, scope ?? null];
    const { rows } = await this.infrastructure.pool.query<CatalogRow & { total: number }>(
      `SELECT ${WITH_COUNT}, count(*) OVER ()::int AS total FROM ${CATALOG_WITH_COUNTS}
${SEARCH}
        ORDER BY coalesce(n.install_count, 0) DESC, p.prefix, p.name
        LIMIT $6 OFFSET $7`,
      [...filters, page.limit, page.offset],
    );
    const total = rows[0]?.total ?? (await this.count(filters));
    return { items: rows.map(providerFromRow), total, limit: page.limit, offset: page.offset };
  }

  /** Only for a page past the end, where the window function has no row to ride on. */
  private async count(filters: unknown[]): Promise<number> {
    const { rows } = await this.infrastructure.pool.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM ${CATALOG} p
${SEARCH}`,
      filters,
    );
    return rows[0].total;
  }
}

@QueryHandler(GetCatalogEntryQuery)
export class GetCatalogEntryHandler implements IQueryHandler<GetCatalogEntryQuery, ProviderResponse> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'pool'>) {}

  async execute({ provider, reader }: GetCatalogEntryQuery): Promise<ProviderResponse> {
    const { rows } = await this.infrastructure.pool.query<CatalogRow>(
      `SELECT ${WITH_COUNT} FROM ${CATALOG_WITH_COUNTS} WHERE p.prefix = $1 AND p.name = $2 AND ${VISIBLE_TO_READER}`,
      [provider.prefix, provider.name, reader.organizationId, reader.platformAdmin],
    );
    if (!rows[0]) throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} does not exist.`);
    return providerFromRow(rows[0]);
  }
}
