import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import * as semver from 'semver';
import { INFRASTRUCTURE } from '../libs/application/infrastructure-token';
import { loadState } from '../libs/application/aggregates';
import { notFound } from '../libs/domain/domain-error';
import { Infrastructure } from '../libs/infrastructure/infrastructure';
import { VersionState, isVisibleTo, providerDecider } from '../libs/providers/provider.decider';
import { Publisher } from '../libs/providers/provider.commands';
import { ProviderId, canonicalOf, providerStream } from '../libs/providers/provider-identity';
import { ProviderVersionRecord, ProviderVersionResponse, versionFromRow, versionFromState } from '../apps/api/provider-versions/provider-version.response';
import { catalogProjection } from './catalog.projection';
import { providerVersionsProjection } from './provider-versions.projection';

const VERSIONS = providerVersionsProjection.table.name;
const CATALOG = catalogProjection.table.name;

export interface VersionPage {
  items: ProviderVersionResponse[];
  total: number;
}

/** With `asOf`, the versions as they were then, folded from the provider's stream (time travel). */
export class ListVersionsQuery extends Query<VersionPage> {
  constructor(
    readonly provider: ProviderId,
    readonly status: string | undefined,
    /** `limit` null: every version from `offset` on. */
    readonly page: { limit: number | null; offset: number },
    /** A private provider's versions are listed only to its organisation (and platform admins). */
    readonly reader: Publisher,
    readonly asOf?: Date,
  ) {
    super();
  }
}

export interface VersionWithRevision {
  body: ProviderVersionResponse;
  /** Revision of the provider stream as the read models know it: the ETag a yank's If-Match needs; null for time travel. */
  streamRevision: string | null;
}

export class GetVersionQuery extends Query<VersionWithRevision> {
  constructor(
    readonly provider: ProviderId,
    readonly version: string,
    readonly reader: Publisher,
    readonly asOf?: Date,
  ) {
    super();
  }
}

type InfrastructureReads = Pick<Infrastructure, 'pool' | 'eventStore' | 'aggregates'>;

@QueryHandler(ListVersionsQuery)
export class ListVersionsHandler implements IQueryHandler<ListVersionsQuery, VersionPage> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: InfrastructureReads) {}

  async execute({ provider, status, page, reader, asOf }: ListVersionsQuery): Promise<VersionPage> {
    const versions = asOf
      ? Object.values(await versionsAt(this.infrastructure, provider, reader, asOf))
          .filter((v) => !status || v.status === status)
          .map((v) => versionFromState(provider, v))
      : (await this.rows(provider, reader, status)).map(versionFromRow);
    // Semver precedence (numeric prerelease parts, build metadata ignored) does not sort in SQL; a
    // provider has at most a few hundred versions, so the page is cut after sorting here.
    versions.sort((a, b) => semver.rcompare(a.version, b.version));
    const end = page.limit === null ? undefined : page.offset + page.limit;
    return { items: versions.slice(page.offset, end), total: versions.length };
  }

  private async rows(provider: ProviderId, reader: Publisher, status: string | undefined): Promise<ProviderVersionRecord[]> {
    await requireVisible(this.infrastructure, provider, reader);
    const { rows } = await this.infrastructure.pool.query<ProviderVersionRecord>(
      `SELECT * FROM ${VERSIONS} WHERE prefix = $1 AND name = $2 AND ($3::text IS NULL OR status = $3)`,
      [provider.prefix, provider.name, status ?? null],
    );
    return rows;
  }
}

@QueryHandler(GetVersionQuery)
export class GetVersionHandler implements IQueryHandler<GetVersionQuery, VersionWithRevision> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: InfrastructureReads) {}

  async execute({ provider, version, reader, asOf }: GetVersionQuery): Promise<VersionWithRevision> {
    if (asOf) {
      const past = (await versionsAt(this.infrastructure, provider, reader, asOf))[version];
      if (!past) throw notFound('version_not_found', `${canonicalOf(provider)} had no version ${version} at ${asOf.toISOString()}.`);
      return { body: versionFromState(provider, past), streamRevision: null };
    }
    await requireVisible(this.infrastructure, provider, reader);
    const { rows } = await this.infrastructure.pool.query<ProviderVersionRecord & { catalog_revision: string | null }>(
      `SELECT v.*, c.revision AS catalog_revision
         FROM ${VERSIONS} v LEFT JOIN ${CATALOG} c ON c.prefix = v.prefix AND c.name = v.name
        WHERE v.prefix = $1 AND v.name = $2 AND v.version = $3`,
      [provider.prefix, provider.name, version],
    );
    const row = rows[0];
    if (!row) {
      throw notFound('version_not_found', `${canonicalOf(provider)} has no version ${version}.`);
    }
    // Two projections, each possibly a step behind the other: the higher revision is the newer truth.
    const streamRevision = row.catalog_revision !== null && BigInt(row.catalog_revision) > BigInt(row.revision) ? row.catalog_revision : row.revision;
    return { body: versionFromRow(row), streamRevision };
  }
}

/** Listed and visible to the reader; a private provider of another organisation is as missing as an unknown one. */
async function requireVisible(infrastructure: InfrastructureReads, provider: ProviderId, reader: Publisher): Promise<void> {
  const { rowCount } = await infrastructure.pool.query(
    `SELECT 1 FROM ${CATALOG} WHERE prefix = $1 AND name = $2 AND (scope = 'public' OR owner_org = $3 OR $4::boolean)`,
    [provider.prefix, provider.name, reader.organizationId, reader.platformAdmin],
  );
  if (!rowCount) throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} does not exist.`);
}

/** Time travel reads the provider's stream, not a read model. */
async function versionsAt(infrastructure: InfrastructureReads, provider: ProviderId, reader: Publisher, asOf: Date): Promise<Readonly<Record<string, VersionState>>> {
  const { state } = await loadState(infrastructure.aggregates, providerDecider, providerStream(provider), asOf);
  // Visibility is today's: a provider made private since is not readable through its past either.
  const now = state.status === 'unknown' ? undefined : (await loadState(infrastructure.aggregates, providerDecider, providerStream(provider))).state;
  if (state.status === 'unknown' || now === undefined || now.status === 'unknown' || !isVisibleTo(now, reader)) throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} did not exist at ${asOf.toISOString()}.`);
  return state.versions;
}
