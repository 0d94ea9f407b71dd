import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { INFRASTRUCTURE } from '../libs/application/infrastructure-token';
import { loadState } from '../libs/application/aggregates';
import { notFound } from '../libs/domain/domain-error';
import { Infrastructure } from '../libs/infrastructure/infrastructure';
import { installationDecider } from '../libs/installations/installation.decider';
import { installationStream } from '../libs/installations/installation-identity';
import { notInstalled } from '../libs/installations/not-installed';
import { providerDecider } from '../libs/providers/provider.decider';
import { ProviderId, canonicalOf, providerStream } from '../libs/providers/provider-identity';
import { latestVersion } from '../libs/providers/version-selection';
import { DeploymentResultResponse, InstalledProviderResponse } from '../apps/api/installations/installation.dto';
import { InstalledRow, installedFromRow, installedFromState } from '../apps/api/installations/installed-provider.mapping';
import { catalogProjection } from './catalog.projection';
import { providerVersionsProjection } from './provider-versions.projection';
import { ConfiguredDeployer, configuredDeployer, deploymentImageOf, deploymentNameOf } from '../libs/installations/deployment-name';
import { installedProvidersProjection } from './installed-providers.projection';

const INSTALLED = installedProvidersProjection.table.name;
const CATALOG = catalogProjection.table.name;
const VERSIONS = providerVersionsProjection.table.name;
/** Written by the installer's deployers, not by a projection. */
const OBSERVATIONS = 'deployment_observations';

type Reads = Pick<Infrastructure, 'pool' | 'eventStore' | 'aggregates'>;

export class ListInstalledProvidersQuery extends Query<{ items: InstalledProviderResponse[]; total: number }> {
  constructor(
    readonly tenant: string,
    readonly filters: { lifecycleState?: string; health?: string },
    /** `limit` null: every installation from `offset` on (LIMIT NULL is no limit). */
    readonly page: { limit: number | null; offset: number },
  ) {
    super();
  }
}

export interface InstalledWithRevision {
  body: InstalledProviderResponse;
  /** The installation stream's revision: the ETag. */
  revision: string;
}

/** With `asOf`, the installation as it was then, folded from its stream (time travel). */
export class GetInstalledProviderQuery extends Query<InstalledWithRevision> {
  constructor(
    readonly tenant: string,
    readonly provider: ProviderId,
    readonly asOf?: Date,
  ) {
    super();
  }
}

export class GetDeploymentQuery extends Query<DeploymentResultResponse> {
  constructor(
    readonly tenant: string,
    readonly provider: ProviderId,
  ) {
    super();
  }
}

/** An installed_providers row with its catalog entry's latest version. */
type RowWithLatest = InstalledRow & { catalog_latest_version: string | null };

/**
 * One round trip per page: the page (with each row's catalog `latest_version`) and the total. Every
 * query is scoped by tenant.
 */
@QueryHandler(ListInstalledProvidersQuery)
export class ListInstalledProvidersHandler implements IQueryHandler<ListInstalledProvidersQuery> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Reads) {}

  async execute({ tenant, filters, page }: ListInstalledProvidersQuery) {
    const params: unknown[] = [tenant, filters.lifecycleState ?? null, filters.health ?? null];
    const where = 'tenant = $1 AND ($2::text IS NULL OR lifecycle_state = $2) AND ($3::text IS NULL OR health = $3)';
    const countSql = `SELECT count(*)::int AS total FROM ${INSTALLED} WHERE ${where}`;
    const { rows } = await this.infrastructure.pool.query<RowWithLatest & { total: number }>(
      `WITH page AS (
         SELECT * FROM ${INSTALLED} WHERE ${where} ORDER BY prefix, name LIMIT $4 OFFSET $5
       )
       SELECT p.*, c.latest_version AS catalog_latest_version, (${countSql}) AS total
         FROM page p LEFT JOIN ${CATALOG} c ON c.prefix = p.prefix AND c.name = p.name
        ORDER BY p.prefix, p.name`,
      [...params, page.limit, page.offset],
    );
    const total = rows.length > 0 ? rows[0].total : (await this.infrastructure.pool.query<{ total: number }>(countSql, params)).rows[0].total;
    return { items: rows.map((r) => installedFromRow(r, r.catalog_latest_version)), total };
  }
}

@QueryHandler(GetInstalledProviderQuery)
export class GetInstalledProviderHandler implements IQueryHandler<GetInstalledProviderQuery, InstalledWithRevision> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Reads) {}

  async execute({ tenant, provider, asOf }: GetInstalledProviderQuery): Promise<InstalledWithRevision> {
    if (asOf) return this.asOf(tenant, provider, asOf);
    const row = await installedRow(this.infrastructure, tenant, provider);
    return { body: installedFromRow(row, row.catalog_latest_version), revision: row.revision };
  }

  private async asOf(tenant: string, provider: ProviderId, asOf: Date): Promise<InstalledWithRevision> {
    const { state, revision } = await loadState(this.infrastructure.aggregates, installationDecider, installationStream(tenant, provider), asOf);
    if (state.status !== 'present') throw notInstalled(provider, asOf);
    // `upgrade_available` is about today's catalog, as in the read model.
    const latest = latestVersion((await loadState(this.infrastructure.aggregates, providerDecider, providerStream(provider))).state);
    return { body: installedFromState(state, latest?.version ?? null), revision: String(revision) };
  }
}

/** Rollout status of the current generation: the deployer's observation when it is about that generation. */
@QueryHandler(GetDeploymentQuery)
export class GetDeploymentHandler implements IQueryHandler<GetDeploymentQuery, DeploymentResultResponse> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Reads & Pick<Infrastructure, 'config'>) {}

  async execute({ tenant, provider }: GetDeploymentQuery): Promise<DeploymentResultResponse> {
    const row = await installedRow(this.infrastructure, tenant, provider);
    const { rows } = await this.infrastructure.pool.query<{
      generation: number;
      deployment_name: string;
      status: string;
      available_replicas: number;
      ready_replicas: number;
      image: string | null;
      message: string | null;
      observed_at: Date;
    }>(`SELECT * FROM ${OBSERVATIONS} WHERE installation_id = $1`, [row.installation_id]);
    const observed = rows[0]?.generation === row.generation ? rows[0] : undefined;
    const deployer = configuredDeployer(this.infrastructure.config);
    // Nothing observed and nothing asked since the install: a redeploy (or any other new generation)
    // is an attempt, and its answer promised what this shows.
    const untouchedSinceInstall = row.updated_at.getTime() === row.installed_at.getTime();
    if (!rows[0] && untouchedSinceInstall && row.lifecycle_state === 'pending' && row.current_version === null) {
      throw notFound('not_deployed', `${canonicalOf(provider)} has not been deployed yet.`);
    }
    const implied = { pending: 'pending', processing: 'progressing', ready: 'available', failed: 'failed', deleting: 'progressing' }[row.lifecycle_state];
    const running = row.lifecycle_state === 'ready' ? 1 : 0;
    return {
      // Until the deployer has seen the generation, the name and image it will give it (as the deploy answered).
      deployment_name: observed?.deployment_name ?? deploymentNameOf(deployer.kind, { installationId: row.installation_id, tenant, ...provider }, row.generation),
      // A failed deploy stays failed even while the deployer still sees the new generation's process.
      status: row.lifecycle_state === 'failed' ? 'failed' : (observed?.status ?? implied),
      available_replicas: observed?.available_replicas ?? running,
      ready_replicas: observed?.ready_replicas ?? running,
      version: row.installed_version,
      image: observed?.image ?? (await this.expectedImage(row, deployer)),
      updated_at: (observed && observed.observed_at > row.updated_at ? observed.observed_at : row.updated_at).toISOString(),
      message: row.last_deploy_message ?? observed?.message ?? row.health_message,
      generation: row.generation,
      healthy: row.health === 'healthy',
    };
  }

  private async expectedImage(row: InstalledRow, deployer: ConfiguredDeployer): Promise<string | null> {
    const { rows } = await this.infrastructure.pool.query<{ runtime_version: string; runtime_image: string | null }>(
      `SELECT runtime_version, runtime_image FROM ${VERSIONS} WHERE prefix = $1 AND name = $2 AND version = $3`,
      [row.prefix, row.name, row.installed_version],
    );
    return rows[0] ? deploymentImageOf(deployer.kind, { runtimeVersion: rows[0].runtime_version, runtimeImage: rows[0].runtime_image }, deployer.images) : null;
  }
}

/** The row with its catalog entry's latest version, in one query. */
async function installedRow(infrastructure: Reads, tenant: string, provider: ProviderId): Promise<RowWithLatest> {
  const { rows } = await infrastructure.pool.query<RowWithLatest>(
    `SELECT i.*, c.latest_version AS catalog_latest_version
       FROM ${INSTALLED} i LEFT JOIN ${CATALOG} c ON c.prefix = i.prefix AND c.name = i.name
      WHERE i.tenant = $1 AND i.prefix = $2 AND i.name = $3`,
    [tenant, provider.prefix, provider.name],
  );
  // Another tenant's installation and a missing one look the same: existence does not leak.
  if (!rows[0]) throw notInstalled(provider);
  return rows[0];
}
