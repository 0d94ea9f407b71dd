import { Inject, Injectable } from '@nestjs/common';
import { CommandContext, runCommand } from '../../../libs/application/command-runner';
import { CatalogMetadata } from '../../../libs/providers/provider.events';
import { KnownProvider, mayPublishUnder, providerDecider } from '../../../libs/providers/provider.decider';
import { latestVersion } from '../../../libs/providers/version-selection';
import { PLATFORM_PREFIX, ProviderId, canonicalOf, providerStream } from '../../../libs/providers/provider-identity';
import { conflict, forbidden, notFound } from '../../../libs/domain/domain-error';
import { Infrastructure } from '../../../libs/infrastructure/infrastructure';
import { CatalogProviderRow } from '../../../libs/read-models/entities/catalog-provider.entity';
import { InstalledProviderRow } from '../../../libs/read-models/entities/installed-provider.entity';
import { Principal } from '../auth/principal';
import { INFRASTRUCTURE } from '../platform/tokens';
import { ProviderResponse } from './catalog.dto';

@Injectable()
export class CatalogService {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async list(q: string | undefined, tags: string[], limit: number, offset: number) {
    const query = this.infrastructure.dataSource.getRepository(CatalogProviderRow).createQueryBuilder('p');
    if (q) {
      const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      query.andWhere(`(p.prefix || '/' || p.name ILIKE :like OR p.display_name ILIKE :like OR p.description ILIKE :like)`, { like });
    }
    if (tags.length > 0) query.andWhere('p.tags @> :tags::jsonb', { tags: JSON.stringify(tags) });
    const [rows, total] = await query.orderBy('p.install_count', 'DESC').addOrderBy('p.prefix').addOrderBy('p.name').skip(offset).take(limit).getManyAndCount();
    return { items: rows.map(fromRow), total, limit, offset };
  }

  async get(provider: ProviderId): Promise<ProviderResponse> {
    const row = await this.infrastructure.dataSource.getRepository(CatalogProviderRow).findOne({ where: { ...provider } });
    if (!row) throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} does not exist.`);
    return fromRow(row);
  }

  /** Answered from the provider's stream; only `install_count` comes from the catalog read model. */
  async update(provider: ProviderId, changes: CatalogMetadata, principal: Principal, context: CommandContext) {
    const outcome = await runCommand(
      this.infrastructure.eventStore,
      providerDecider,
      providerStream(provider),
      { type: 'UpdateMetadata', provider, publisher: publisherOf(principal), changes, now: context.now },
      context,
    );
    const state = outcome.state as KnownProvider;
    const row = await this.infrastructure.dataSource.getRepository(CatalogProviderRow).findOne({ where: { ...provider } });
    return { outcome, body: fromState(state, row?.install_count ?? 0) };
  }

  /**
   * Installations live in other streams, so "in use" is read from the installed-providers read
   * model: an install racing the delete within the projection's lag can slip through, and keeps
   * running the version it has (its history stays).
   */
  async remove(provider: ProviderId, principal: Principal, context: CommandContext) {
    // Only the publisher may learn whether (and how widely) the provider is installed.
    if (!mayPublishUnder(publisherOf(principal), provider.prefix)) {
      throw provider.prefix === PLATFORM_PREFIX
        ? forbidden('platform_admin_required', 'Deleting a platform provider needs a platform-admin API key.')
        : forbidden('prefix_not_owned', `Organisation "${principal.organizationId}" may delete only providers under "${principal.organizationId}/".`);
    }
    const inUse = await this.infrastructure.dataSource.getRepository(InstalledProviderRow).count({ where: { ...provider } });
    if (inUse > 0) {
      throw conflict('provider_in_use', `${canonicalOf(provider)} is installed by ${inUse} organisation(s); they must uninstall it first.`);
    }
    return runCommand(
      this.infrastructure.eventStore,
      providerDecider,
      providerStream(provider),
      { type: 'DeleteProvider', provider, publisher: publisherOf(principal), now: context.now },
      context,
    );
  }
}

function publisherOf(principal: Principal) {
  return { organizationId: principal.organizationId, platformAdmin: principal.platformAdmin };
}

function author(prefix: string, ownerOrg: string) {
  return { kind: prefix === PLATFORM_PREFIX ? ('platform' as const) : ('customer' as const), organization_id: ownerOrg, display_name: ownerOrg };
}

function fromRow(row: CatalogProviderRow): ProviderResponse {
  return {
    prefix: row.prefix,
    name: row.name,
    canonical: `${row.prefix}/${row.name}`,
    display_name: row.display_name,
    description: row.description,
    author: author(row.prefix, row.owner_org),
    scope: 'public',
    icon_url: row.icon_url,
    readme: row.readme,
    tags: row.tags,
    latest_version: row.latest_version,
    install_count: row.install_count,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function fromState(state: KnownProvider, installCount: number): ProviderResponse {
  return {
    prefix: state.prefix,
    name: state.name,
    canonical: `${state.prefix}/${state.name}`,
    display_name: state.catalog.display_name,
    description: state.catalog.description,
    author: author(state.prefix, state.ownerOrg),
    scope: 'public',
    icon_url: state.catalog.icon_url,
    readme: state.catalog.readme,
    tags: state.catalog.tags,
    latest_version: latestVersion(state)?.version ?? null,
    install_count: installCount,
    created_at: new Date(state.createdAt).toISOString(),
    updated_at: new Date(state.updatedAt).toISOString(),
  };
}
