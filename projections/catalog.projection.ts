import { ProviderEvent } from '../libs/providers/provider.events';
import { latestVersion } from '../libs/providers/version-selection';
import { EMPTY_CATALOG, VersionState } from '../libs/providers/provider.decider';
import { RecordedEvent } from '../libs/event-store/event-store.port';
import { JsonRow, RowProjection } from '../libs/projection-engine/row-projection';

/**
 * One row per listed provider: catalog metadata and each version's status (from which
 * `latest_version` follows, by the same rule the command side uses). How many tenants have it
 * installed is `provider_install_counts` (provider-install-counts.projection.ts).
 */
export const catalogProjection: RowProjection = {
  name: 'catalog',
  eventTypes: ['ProviderVersionPublished', 'ProviderVersionYanked', 'ProviderMetadataUpdated', 'ProviderDeleted', 'ProviderVersionBuildSucceeded', 'ProviderVersionBuildFailed'],
  table: {
    name: 'catalog_providers',
    key: ['prefix', 'name'],
    columns: {
      prefix: 'text',
      name: 'text',
      owner_org: 'text',
      scope: 'text',
      display_name: 'text',
      description: 'text',
      icon_url: 'text',
      readme: 'text',
      tags: 'jsonb',
      versions: 'jsonb',
      latest_version: 'text',
      revision: 'bigint',
      created_at: 'timestamptz',
      updated_at: 'timestamptz',
    },
    nullable: ['display_name', 'description', 'icon_url', 'readme', 'latest_version'],
    // The catalog is filtered by tag (jsonb containment).
    indexes: [{ suffix: 'tags', columns: ['tags'], using: 'gin' }],
  },
  keyOf(event: RecordedEvent) {
    const e = event as unknown as ProviderEvent;
    return { prefix: e.data.prefix, name: e.data.name };
  },
  evolve(row: JsonRow | null, event: RecordedEvent): JsonRow | null {
    const e = event as unknown as ProviderEvent;
    const at = e.data.at;
    const revision = event.revision;
    switch (e.type) {
      case 'ProviderVersionPublished': {
        const base = row ?? {
          prefix: e.data.prefix,
          name: e.data.name,
          owner_org: e.data.publisher_org,
          scope: 'public',
          display_name: null,
          description: null,
          icon_url: null,
          readme: null,
          tags: [],
          versions: {},
          created_at: at,
        };
        return withLatest({ ...base, versions: { ...(base.versions as Record<string, string>), [e.data.version]: e.data.status }, revision, updated_at: at });
      }
      case 'ProviderVersionYanked':
        if (!row) return row;
        return withLatest({ ...row, versions: { ...(row.versions as Record<string, string>), [e.data.version]: 'yanked' }, revision, updated_at: at });
      case 'ProviderMetadataUpdated': {
        if (!row) return row;
        const next: JsonRow = { ...row, revision, updated_at: at };
        for (const [key, value] of Object.entries(e.data.changes)) if (value !== undefined) next[key] = key === 'tags' ? (value ?? []) : value;
        return next;
      }
      case 'ProviderDeleted':
        return null;
      case 'ProviderVersionBuildSucceeded':
      case 'ProviderVersionBuildFailed': {
        if (!row) return row;
        const status = e.type === 'ProviderVersionBuildSucceeded' ? 'published' : 'failed';
        return withLatest({ ...row, versions: { ...(row.versions as Record<string, string>), [e.data.version]: status }, revision, updated_at: at });
      }
      default:
        return row;
    }
  },
};

function withLatest(row: JsonRow): JsonRow {
  const versions = Object.fromEntries(
    Object.entries(row.versions as Record<string, string>).map(([version, status]) => [version, { version, status } as VersionState]),
  );
  const latest = latestVersion({
    status: 'listed',
    prefix: row.prefix as string,
    name: row.name as string,
    ownerOrg: row.owner_org as string,
    catalog: EMPTY_CATALOG,
    versions,
    createdAt: row.created_at as string,
    updatedAt: row.updated_at as string,
  });
  return { ...row, latest_version: latest?.version ?? null };
}
