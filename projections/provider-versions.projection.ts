import { ProviderEvent, ProviderVersionBuildFailed, ProviderVersionBuildSucceeded } from '../libs/providers/provider.events';
import { EMPTY_CATALOG, ProviderState, VersionState, isVersionState, providerDecider } from '../libs/providers/provider.decider';
import { RecordedEvent } from '../libs/event-store/event-store.port';
import { JsonRow, RowProjection } from '../libs/projection-engine/row-projection';

/** One row per published version; a yank changes its status, nothing else. */
export const providerVersionsProjection: RowProjection = {
  name: 'provider-versions',
  eventTypes: ['ProviderVersionPublished', 'ProviderVersionYanked', 'ProviderVersionBuildSucceeded', 'ProviderVersionBuildFailed'],
  table: {
    name: 'provider_versions',
    key: ['prefix', 'name', 'version'],
    columns: {
      prefix: 'text',
      name: 'text',
      version: 'text',
      publisher_org: 'text',
      runtime_version: 'text',
      wheel_url: 'text',
      wheel_sha256: 'text',
      package_name: 'text',
      entrypoint: 'jsonb',
      schemas: 'jsonb',
      changelog: 'text',
      runtime_image: 'text',
      status: 'text',
      published_at: 'timestamptz',
      yanked_reason: 'text',
      error_message: 'text',
      revision: 'bigint',
      created_at: 'timestamptz',
      updated_at: 'timestamptz',
      // The version as the provider decider folds it: what an install decides on (provider-facts.ts).
      version_state: 'jsonb',
    },
    nullable: ['wheel_url', 'wheel_sha256', 'package_name', 'entrypoint', 'schemas', 'changelog', 'runtime_image', 'published_at', 'yanked_reason', 'error_message', 'version_state'],
  },
  keyOf(event: RecordedEvent) {
    const e = event as unknown as ProviderEvent;
    if (e.type !== 'ProviderVersionPublished' && e.type !== 'ProviderVersionYanked' && !isBuildOutcome(e)) return undefined;
    return { prefix: e.data.prefix, name: e.data.name, version: e.data.version };
  },
  evolve(row: JsonRow | null, event: RecordedEvent): JsonRow | null {
    const next = evolveColumns(row, event);
    return next ? { ...next, version_state: versionStateAfter(row, event) } : next;
  },
};

/**
 * The version's state after `event`, by the provider decider's own `evolve` over a provider holding
 * only this version: each of these events touches one version, so the result is the version exactly
 * as the whole provider's fold has it.
 */
function versionStateAfter(row: JsonRow | null, event: RecordedEvent): VersionState | null {
  const e = event as unknown as ProviderEvent;
  if (!('version' in e.data)) return null;
  const before: ProviderState =
    row && isVersionState(row.version_state)
      ? { status: 'listed', prefix: e.data.prefix, name: e.data.name, ownerOrg: String(row.publisher_org), catalog: EMPTY_CATALOG, versions: { [e.data.version]: row.version_state }, createdAt: '', updatedAt: '' }
      : { status: 'unknown' };
  const after = providerDecider.evolve(before, e);
  return after.status === 'unknown' ? null : (after.versions[e.data.version] ?? null);
}

function evolveColumns(row: JsonRow | null, event: RecordedEvent): JsonRow | null {
  const e = event as unknown as ProviderEvent;
  switch (e.type) {
    case 'ProviderVersionPublished': {
      const d = e.data;
      return {
        prefix: d.prefix,
        name: d.name,
        version: d.version,
        publisher_org: d.publisher_org,
        runtime_version: d.runtime_version,
        wheel_url: d.wheel_url,
        wheel_sha256: d.wheel_sha256,
        package_name: d.package_name,
        entrypoint: d.entrypoint,
        schemas: d.schemas,
        changelog: d.changelog,
        runtime_image: d.runtime_image ?? null,
        status: d.status,
        published_at: d.published_at,
        yanked_reason: null,
        error_message: null,
        revision: event.revision,
        created_at: d.at,
        updated_at: d.at,
      };
    }
    case 'ProviderVersionYanked':
      return row ? { ...row, status: 'yanked', yanked_reason: e.data.reason, revision: event.revision, updated_at: e.data.at } : row;
    case 'ProviderVersionBuildSucceeded':
      return row ? { ...row, status: 'published', published_at: e.data.at, package_name: row.package_name ?? e.data.package_name, revision: event.revision, updated_at: e.data.at } : row;
    case 'ProviderVersionBuildFailed':
      return row ? { ...row, status: 'failed', error_message: e.data.error_message, revision: event.revision, updated_at: e.data.at } : row;
    default:
      return row;
  }
}

function isBuildOutcome(e: ProviderEvent): e is ProviderVersionBuildSucceeded | ProviderVersionBuildFailed {
  return e.type === 'ProviderVersionBuildSucceeded' || e.type === 'ProviderVersionBuildFailed';
}

