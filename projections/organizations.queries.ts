import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { INFRASTRUCTURE } from '../libs/application/infrastructure-token';
import { notFound } from '../libs/domain/domain-error';
import { Infrastructure } from '../libs/infrastructure/infrastructure';
import { OrganizationResponse } from '../apps/api/organizations/organization.response';
import { organizationsProjection } from './organizations.projection';

const ORGANIZATIONS = organizationsProjection.table.name;

interface OrganizationRow {
  id: string;
  slug: string;
  name: string;
  created_at: Date;
  updated_at: Date;
}

/** Who may see which organisations: one of them, or (a platform admin) all. */
export type OrganizationVisibility = { only: string } | 'all';

export class ListOrganizationsQuery extends Query<{ items: OrganizationResponse[]; total: number }> {
  constructor(
    readonly visibility: OrganizationVisibility,
    /** Null limit: every organisation from the offset on. */
    readonly window: { limit: number | null; offset: number },
  ) {
    super();
  }
}

export class GetOrganizationQuery extends Query<OrganizationResponse> {
  constructor(
    readonly id: string,
    readonly visibility: OrganizationVisibility,
  ) {
    super();
  }
}

/** By id; the total counts every organisation the caller may see, whatever the window. */
@QueryHandler(ListOrganizationsQuery)
export class ListOrganizationsHandler implements IQueryHandler<ListOrganizationsQuery, { items: OrganizationResponse[]; total: number }> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'pool'>) {}

  async execute({ visibility, window }: ListOrganizationsQuery): Promise<{ items: OrganizationResponse[]; total: number }> {
    const only = visibility === 'all' ? null : visibility.only;
    const where = `WHERE ($1::text IS NULL OR id = $1)`;
    const { rows } = await this.infrastructure.pool.query<OrganizationRow & { total: number }>(
      `SELECT id, slug, name, created_at, updated_at, (SELECT count(*)::int FROM ${ORGANIZATIONS} ${where}) AS total
         FROM ${ORGANIZATIONS} ${where} ORDER BY id LIMIT $2 OFFSET $3`,
      [only, window.limit, window.offset],
    );
    const total = rows[0]?.total ?? (await this.infrastructure.pool.query<{ total: number }>(`SELECT count(*)::int AS total FROM ${ORGANIZATIONS} ${where}`, [only])).rows[0].total;
    return { items: rows.map(organizationFromRow), total };
  }
}

/** Another organisation than the caller's is as absent as one that does not exist: existence does not leak. */
@QueryHandler(GetOrganizationQuery)
export class GetOrganizationHandler implements IQueryHandler<GetOrganizationQuery, OrganizationResponse> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'pool'>) {}

  async execute({ id, visibility }: GetOrganizationQuery): Promise<OrganizationResponse> {
    const visible = visibility === 'all' || visibility.only === id;
    const { rows } = visible
      ? await this.infrastructure.pool.query<OrganizationRow>(`SELECT id, slug, name, created_at, updated_at FROM ${ORGANIZATIONS} WHERE id = $1`, [id])
      : { rows: [] };
    if (!rows[0]) throw notFound('organization_not_found', `Organisation ${id} does not exist.`);
    return organizationFromRow(rows[0]);
  }
}

function organizationFromRow(row: OrganizationRow): OrganizationResponse {
  return {
    id: row.id,
    organization_id: row.id,
    slug: row.slug,
    name: row.name,
    status: 'active',
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}
