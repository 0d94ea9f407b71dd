import { CatalogEntry, KnownProvider } from '../../../libs/providers/provider.decider';
import { PLATFORM_PREFIX, canonicalOf } from '../../../libs/providers/provider-identity';
import { latestVersion } from '../../../libs/providers/version-selection';
import { ProviderResponse } from './catalog.dto';

/** A catalog_providers row as node-postgres returns it: the provider's catalog entry and what the catalog adds. */
export interface CatalogRow extends CatalogEntry {
  prefix: string;
  name: string;
  owner_org: string;
  latest_version: string | null;
  install_count: number;
  revision: string;
  created_at: Date;
  updated_at: Date;
}

function author(prefix: string, ownerOrg: string): ProviderResponse['author'] {
  return { kind: prefix === PLATFORM_PREFIX ? 'platform' : 'customer', organization_id: ownerOrg, display_name: ownerOrg };
}

/**
 * The SDK's Provider model requires both as strings: until metadata sets them, the display name is
 * the provider's short name and the description is empty.
 */
function displayName(name: string, displayName: string | null): string {
  return displayName ?? name;
}

export function providerFromRow(row: CatalogRow): ProviderResponse {
  return {
    prefix: row.prefix,
    name: row.name,
    canonical: canonicalOf(row),
    display_name: displayName(row.name, row.display_name),
    description: row.description ?? '',
    author: author(row.prefix, row.owner_org),
    scope: row.scope,
    icon_url: row.icon_url,
    readme: row.readme,
    tags: row.tags,
    latest_version: row.latest_version,
    install_count: row.install_count,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** After a command: from the provider's stream; only `install_count` comes from the read model. */
export function providerFromState(state: KnownProvider, installCount: number): ProviderResponse {
  return {
    prefix: state.prefix,
    name: state.name,
    canonical: canonicalOf(state),
    display_name: displayName(state.name, state.catalog.display_name),
    description: state.catalog.description ?? '',
    author: author(state.prefix, state.ownerOrg),
    scope: state.catalog.scope,
    icon_url: state.catalog.icon_url,
    readme: state.catalog.readme,
    tags: state.catalog.tags,
    latest_version: latestVersion(state)?.version ?? null,
    install_count: installCount,
    created_at: new Date(state.createdAt).toISOString(),
    updated_at: new Date(state.updatedAt).toISOString(),
  };
}
