import { Inject, Injectable } from '@nestjs/common';

import { canonicalOf, ProviderId } from '../../../libs/domain/provider/provider-identity';
import { notFound } from '../../../libs/domain/shared/domain-error';
import { Infrastructure } from '../../../libs/infrastructure/infrastructure';
import { CatalogProviderRow } from '../../../libs/read-models/entities/catalog-provider.entity';
import { InstalledProviderRow } from '../../../libs/read-models/entities/installed-provider.entity';
import { INFRASTRUCTURE } from '../platform/tokens';
import { DeploymentResultResponse, InstalledProviderResponse } from './installation.dto';
import { installedFromRow } from './installed-provider.mapping';

/** The tenant's installations as the read model holds them; every query is scoped by tenant. */
@Injectable()
export class InstalledProvidersQueries {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async list(tenant: string, filters: { lifecycle_state?: string; health?: string }, limit: number, offset: number) {
    const [rows, total] = await this.infrastructure.dataSource.getRepository(InstalledProviderRow).findAndCount({
      where: { tenant, ...(filters.lifecycle_state ? { lifecycle_state: filters.lifecycle_state } : {}), ...(filters.health ? { health: filters.health } : {}) },
      order: { prefix: 'ASC', name: 'ASC' },
      skip: offset,
      take: limit,
    });
    const latest = await this.latestVersions(rows);
    return { items: rows.map((r) => installedFromRow(r, latest.get(`${r.prefix}/${r.name}`))), total };
  }

  async get(tenant: string, provider: ProviderId): Promise<{ body: InstalledProviderResponse; revision: string }> {
    const row = await this.row(tenant, provider);
    const latest = await this.latestVersions([row]);
    return { body: installedFromRow(row, latest.get(canonicalOf(provider))), revision: row.revision };
  }

  async deployment(tenant: string, provider: ProviderId): Promise<DeploymentResultResponse> {
    const row = await this.row(tenant, provider);
    if (row.lifecycle_state === 'pending' && row.current_version === null) {
      throw notFound('not_deployed', `${canonicalOf(provider)} has not been deployed yet.`);
    }
    const status = { pending: 'pending', processing: 'progressing', ready: 'available', failed: 'failed', deleting: 'progressing' }[row.lifecycle_state] ?? 'pending';
    const running = row.lifecycle_state === 'ready' ? 1 : 0;
    return {
      deployment_name: `ps-${tenant}-${row.prefix}-${row.name}`,
      status,
      available_replicas: running,
      ready_replicas: running,
      version: row.installed_version,
      image: null,
      updated_at: row.updated_at.toISOString(),
      message: row.last_deploy_message ?? row.health_message,
      generation: row.generation,
      healthy: row.health === 'healthy',
    };
  }

  private async row(tenant: string, provider: ProviderId): Promise<InstalledProviderRow> {
    const row = await this.infrastructure.dataSource.getRepository(InstalledProviderRow).findOne({ where: { tenant, ...provider } });
    // Another tenant's installation and a missing one look the same: existence does not leak.
    if (!row) throw notFound('not_installed', `${canonicalOf(provider)} is not installed.`);
    return row;
  }

  private async latestVersions(rows: InstalledProviderRow[]): Promise<Map<string, string | null>> {
    if (rows.length === 0) return new Map();
    const catalog = await this.infrastructure.dataSource.getRepository(CatalogProviderRow).find({
      select: { prefix: true, name: true, latest_version: true },
      where: rows.map((r) => ({ prefix: r.prefix, name: r.name })),
    });
    return new Map(catalog.map((c) => [`${c.prefix}/${c.name}`, c.latest_version]));
  }
}

