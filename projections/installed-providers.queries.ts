import { Inject, Injectable } from '@nestjs/common';

import { canonicalOf, ProviderId } from '../libs/providers/provider-identity';
import { notFound } from '../libs/domain/domain-error';
import { Infrastructure } from '../libs/infrastructure/infrastructure';
import { InstalledProviderRow } from '../libs/read-models/entities/installed-provider.entity';
import { INFRASTRUCTURE } from '../apps/api/platform/tokens';
import { DeploymentResultResponse, InstalledProviderResponse } from '../apps/api/installations/installation.dto';
import { installedFromRow } from '../apps/api/installations/installed-provider.mapping';

/** The tenant's installations as the read model holds them; every query is scoped by tenant. */
@Injectable()
export class InstalledProvidersQueries {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  /**
   * One round trip per page: the page (with each row's catalog `latest_version`) and the total. The
   * queries are plain SQL on the pool, not TypeORM's findAndCount plus a catalog find (three round
   * trips and the query builder's CPU on every request: most of this endpoint's cost under load).
   */
  async list(tenant: string, filters: { lifecycle_state?: string; health?: string }, limit: number, offset: number) {
    const params: unknown[] = [tenant];
    let where = 'tenant = $1';
    if (filters.lifecycle_state) {
      params.push(filters.lifecycle_state);
      where += ` AND lifecycle_state = $${params.length}`;
    }
    if (filters.health) {
      params.push(filters.health);
      where += ` AND health = $${params.length}`;
    }
    const countSql = `SELECT count(*)::int AS total FROM installed_providers WHERE ${where}`;
    params.push(limit, offset);
    const { rows } = await this.infrastructure.pool.query<RowWithLatest & { total: number }>(
      `WITH page AS (
         SELECT * FROM installed_providers WHERE ${where} ORDER BY prefix, name LIMIT $${params.length - 1} OFFSET $${params.length}
       )
       SELECT p.*, c.latest_version AS catalog_latest_version, (${countSql}) AS total
         FROM page p LEFT JOIN catalog_providers c ON c.prefix = p.prefix AND c.name = p.name
        ORDER BY p.prefix, p.name`,
      params,
    );
    const total = rows.length > 0 ? rows[0].total : (await this.infrastructure.pool.query<{ total: number }>(countSql, params.slice(0, -2))).rows[0].total;
    return { items: rows.map((r) => installedFromRow(r, r.catalog_latest_version)), total };
  }

  async get(tenant: string, provider: ProviderId): Promise<{ body: InstalledProviderResponse; revision: string }> {
    const row = await this.row(tenant, provider);
    return { body: installedFromRow(row, row.catalog_latest_version), revision: row.revision };
  }

  async deployment(tenant: string, provider: ProviderId): Promise<DeploymentResultResponse> {
    const row = await this.row(tenant, provider);
    const { rows } = await this.infrastructure.pool.query<{
      generation: number;
      deployment_name: string;
      status: string;
      available_replicas: number;
      ready_replicas: number;
      image: string | null;
      message: string | null;
      observed_at: Date;
    }>('SELECT * FROM deployment_observations WHERE installation_id = $1', [row.installation_id]);
    const observed = rows[0]?.generation === row.generation ? rows[0] : undefined;
    if (!observed && row.lifecycle_state === 'pending' && row.current_version === null) {
      throw notFound('not_deployed', `${canonicalOf(provider)} has not been deployed yet.`);
    }
    const implied = { pending: 'pending', processing: 'progressing', ready: 'available', failed: 'failed', deleting: 'progressing' }[row.lifecycle_state] ?? 'pending';
    const running = row.lifecycle_state === 'ready' ? 1 : 0;
    return {
      deployment_name: observed?.deployment_name ?? `ps-${tenant}-${row.prefix}-${row.name}`,
      // A failed deploy stays failed even while the deployer still sees the new generation's process.
      status: row.lifecycle_state === 'failed' ? 'failed' : (observed?.status ?? implied),
      available_replicas: observed?.available_replicas ?? running,
      ready_replicas: observed?.ready_replicas ?? running,
      version: row.installed_version,
      image: observed?.image ?? null,
      updated_at: (observed && observed.observed_at > row.updated_at ? observed.observed_at : row.updated_at).toISOString(),
      message: row.last_deploy_message ?? observed?.message ?? row.health_message,
      generation: row.generation,
      healthy: row.health === 'healthy',
    };
  }

  /** The row with its catalog entry's latest version, in one query. */
  private async row(tenant: string, provider: ProviderId): Promise<RowWithLatest> {
    const { rows } = await this.infrastructure.pool.query<RowWithLatest>(
      `SELECT i.*, c.latest_version AS catalog_latest_version
         FROM installed_providers i LEFT JOIN catalog_providers c ON c.prefix = i.prefix AND c.name = i.name
        WHERE i.tenant = $1 AND i.prefix = $2 AND i.name = $3`,
      [tenant, provider.prefix, provider.name],
    );
    // Another tenant's installation and a missing one look the same: existence does not leak.
    if (!rows[0]) throw notFound('not_installed', `${canonicalOf(provider)} is not installed.`);
    return rows[0];
  }
}

/** An installed_providers row as node-postgres returns it (the entity's types), plus the catalog's latest version. */
type RowWithLatest = InstalledProviderRow & { catalog_latest_version: string | null };
