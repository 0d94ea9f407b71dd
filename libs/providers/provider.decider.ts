import { Decider, assertNever } from '../domain/decider';
import { conflict, forbidden, notFound } from '../domain/domain-error';
import { DeleteProvider, ProviderCommand, PublishVersion, Publisher, UpdateMetadata, YankVersion } from './provider.commands';
import { completeBuild, evolveBuild, publishUploaded } from './build-lifecycle';
import { CatalogMetadata, ProviderEvent, ProviderScope, ProviderVersionPublishedData, VersionStatus } from './provider.events';
import { PLATFORM_PREFIX, ProviderId, canonicalOf } from './provider-identity';

export interface VersionState extends Omit<ProviderVersionPublishedData, 'prefix' | 'name' | 'at'> {
  yanked_reason: string | null;
  /** Set when validation of an uploaded wheel failed: what was wrong with it. */
  error_message?: string | null;
  created_at: string;
  updated_at: string;
}

/** A version's state as stored in JSON (a read model's column): the shape the fold gives it. */
export function isVersionState(value: unknown): value is VersionState {
  return typeof value === 'object' && value !== null && 'version' in value && 'status' in value;
}

export interface CatalogEntry {
  scope: ProviderScope;
  display_name: string | null;
  description: string | null;
  icon_url: string | null;
  readme: string | null;
  tags: string[];
}

export type ProviderState =
  | { status: 'unknown' }
  | {
      status: 'listed' | 'deleted';
      prefix: string;
      name: string;
      ownerOrg: string;
      catalog: CatalogEntry;
      versions: Readonly<Record<string, VersionState>>;
      createdAt: string;
      updatedAt: string;
    };

export type KnownProvider = Exclude<ProviderState, { status: 'unknown' }>;

export const EMPTY_CATALOG: CatalogEntry = { scope: 'public', display_name: null, description: null, icon_url: null, readme: null, tags: [] };

export function mayPublishUnder(publisher: Publisher, prefix: string): boolean {
  return prefix === PLATFORM_PREFIX ? publisher.platformAdmin : publisher.organizationId === prefix;
}

/**
 * Who may see a provider (list it, read it, its versions and its history): everyone when it is
 * public; only its own organisation, and platform admins, when it is private. Anyone else is told
 * it does not exist.
 */
export function isVisibleTo(provider: KnownProvider, reader: Publisher): boolean {
  return provider.catalog.scope === 'public' || provider.ownerOrg === reader.organizationId || reader.platformAdmin;
}

/** A private provider is installed by its own organisation alone (not even a platform admin's). */
export function isInstallableBy(provider: KnownProvider, tenant: string): boolean {
  return provider.catalog.scope === 'public' || provider.ownerOrg === tenant;
}

/** Only the owning organisation (or, under `platform/`, a platform admin) may act on a provider. */
export function assertPublisher(publisher: Publisher, provider: ProviderId): void {
  if (mayPublishUnder(publisher, provider.prefix)) return;
  throw provider.prefix === PLATFORM_PREFIX
    ? forbidden('platform_admin_required', `Providers under "platform/" need a platform-admin API key.`)
    : forbidden(
        'prefix_not_owned',
        `Organisation "${publisher.organizationId}" may publish and manage only providers under "${publisher.organizationId}/", not "${provider.prefix}/".`,
      );
}

function catalogChanges(current: CatalogEntry, requested: CatalogMetadata): CatalogMetadata {
  const changes: CatalogMetadata = {};
  if (requested.scope !== undefined && requested.scope !== current.scope) changes.scope = requested.scope;
  for (const key of ['display_name', 'description', 'icon_url', 'readme'] as const) {
    const value = requested[key];
    if (value !== undefined && value !== current[key]) changes[key] = value;
  }
  if (requested.tags !== undefined) {
    const tags = requested.tags ?? [];
    if (JSON.stringify(tags) !== JSON.stringify(current.tags)) changes.tags = tags;
  }
  return changes;
}

function publish(command: PublishVersion, state: ProviderState): ProviderEvent[] {
  assertPublisher(command.publisher, command.provider);
  const listed = state.status === 'listed' ? state : undefined;
  if (state.status !== 'unknown' && state.versions[command.version]) {
    throw conflict(
      'version_exists',
      `${canonicalOf(command.provider)} ${command.version} already exists${state.versions[command.version].status === 'yanked' ? ' (yanked)' : ''}; versions are immutable, publish a new version number.`,
    );
  }
  const { prefix, name } = command.provider;
  const events: ProviderEvent[] = [
    {
      type: 'ProviderVersionPublished',
      data: {
        prefix,
        name,
        version: command.version,
        publisher_org: command.publisher.organizationId,
        runtime_version: command.runtimeVersion,
        wheel_url: command.wheelUrl,
        wheel_sha256: command.wheelSha256,
        package_name: command.packageName,
        entrypoint: command.entrypoint,
        schemas: command.schemas,
        config_schema: command.configSchema,
        outputs_schema: command.outputsSchema,
        changelog: command.changelog,
        // Only when given: events without it keep the shape they always had.
        ...(command.runtimeImage ? { runtime_image: command.runtimeImage } : {}),
        status: 'published',
        published_at: command.now,
        at: command.now,
      },
    },
  ];
  // Catalog metadata comes with the first publish; later publishes update it only for platform
  // providers (as the platform's own publish route documents).
  const firstPublish = !listed;
  if (command.metadata && (firstPublish || prefix === PLATFORM_PREFIX)) {
    const changes = catalogChanges(state.status === 'unknown' ? EMPTY_CATALOG : state.catalog, command.metadata);
    if (Object.keys(changes).length > 0) {
      events.push({ type: 'ProviderMetadataUpdated', data: { prefix, name, changes, at: command.now } });
    }
  }
  return events;
}

function requireListed(state: ProviderState, provider: ProviderId): KnownProvider {
  if (state.status !== 'listed') {
    throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} does not exist.`);
  }
  return state;
}

function yank(command: YankVersion, state: ProviderState): ProviderEvent[] {
  assertPublisher(command.publisher, command.provider);
  const listed = requireListed(state, command.provider);
  const version = listed.versions[command.version];
  if (!version) {
    throw notFound('version_not_found', `${canonicalOf(command.provider)} has no version ${command.version}.`);
  }
  if (version.status === 'yanked') {
    throw conflict('version_already_yanked', `${canonicalOf(command.provider)} ${command.version} is already yanked.`);
  }
  const { prefix, name } = command.provider;
  return [{ type: 'ProviderVersionYanked', data: { prefix, name, version: command.version, reason: command.reason, at: command.now } }];
}

function updateMetadata(command: UpdateMetadata, state: ProviderState): ProviderEvent[] {
  assertPublisher(command.publisher, command.provider);
  const listed = requireListed(state, command.provider);
  const changes = catalogChanges(listed.catalog, command.changes);
  if (Object.keys(changes).length === 0) return [];
  const { prefix, name } = command.provider;
  return [{ type: 'ProviderMetadataUpdated', data: { prefix, name, changes, at: command.now } }];
}

function deleteProvider(command: DeleteProvider, state: ProviderState): ProviderEvent[] {
  assertPublisher(command.publisher, command.provider);
  requireListed(state, command.provider);
  const { prefix, name } = command.provider;
  return [{ type: 'ProviderDeleted', data: { prefix, name, at: command.now } }];
}

function evolveProvider(state: ProviderState, event: ProviderEvent): ProviderState {
  switch (event.type) {
    case 'ProviderVersionPublished': {
      const { prefix, name, at, ...version } = event.data;
      const base =
        state.status === 'unknown'
          ? { prefix, name, ownerOrg: event.data.publisher_org, catalog: EMPTY_CATALOG, versions: {}, createdAt: at }
          : state;
      return {
        ...base,
        status: 'listed',
        versions: { ...base.versions, [version.version]: { ...version, yanked_reason: null, created_at: at, updated_at: at } },
        updatedAt: at,
      };
    }
    case 'ProviderVersionYanked': {
      if (state.status === 'unknown' || !state.versions[event.data.version]) return state;
      const version = state.versions[event.data.version];
      const status: VersionStatus = 'yanked';
      return {
        ...state,
        versions: { ...state.versions, [event.data.version]: { ...version, status, yanked_reason: event.data.reason, updated_at: event.data.at } },
        updatedAt: event.data.at,
      };
    }
    case 'ProviderMetadataUpdated': {
      if (state.status === 'unknown') return state;
      const { changes } = event.data;
      const catalog: CatalogEntry = {
        scope: changes.scope ?? state.catalog.scope,
        display_name: changes.display_name !== undefined ? changes.display_name : state.catalog.display_name,
        description: changes.description !== undefined ? changes.description : state.catalog.description,
        icon_url: changes.icon_url !== undefined ? changes.icon_url : state.catalog.icon_url,
        readme: changes.readme !== undefined ? changes.readme : state.catalog.readme,
        tags: changes.tags !== undefined ? changes.tags ?? [] : state.catalog.tags,
      };
      return { ...state, catalog, updatedAt: event.data.at };
    }
    case 'ProviderDeleted':
      return state.status === 'unknown' ? state : { ...state, status: 'deleted', updatedAt: event.data.at };
    case 'ProviderVersionBuildSucceeded':
    case 'ProviderVersionBuildFailed':
      return evolveBuild(state, event);
    default:
      return state;
  }
}

export const providerDecider: Decider<ProviderCommand, ProviderState, ProviderEvent> = {
  initialState: { status: 'unknown' },
  evolve: evolveProvider,
  // Bump on any change to `evolveProvider`, `evolveBuild` or ProviderState: older snapshots then stop being used.
  snapshot: { name: 'provider', version: 1 },
  decide(command, state) {
    switch (command.type) {
      case 'PublishVersion':
        return publish(command, state);
      case 'YankVersion':
        return yank(command, state);
      case 'UpdateMetadata':
        return updateMetadata(command, state);
      case 'DeleteProvider':
        return deleteProvider(command, state);
      case 'PublishUploadedVersion':
        return publishUploaded(command, state, publish);
      case 'CompleteBuild':
        return completeBuild(command, state);
      default:
        return assertNever(command);
    }
  },
};
