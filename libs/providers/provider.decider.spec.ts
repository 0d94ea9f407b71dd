import { fold } from '../domain/decider';
import { DomainError, DomainErrorKind } from '../domain/domain-error';
import { given } from '../domain/given-when-then';
import {
  DeleteProvider,
  ProviderCommand,
  PublishVersion,
  Publisher,
  UpdateMetadata,
  YankVersion,
} from './provider.commands';
import { KnownProvider, ProviderState, isInstallableBy, isVisibleTo, mayPublishUnder, providerDecider } from './provider.decider';
import {
  CatalogMetadata,
  ProviderDeleted,
  ProviderEvent,
  ProviderMetadataUpdated,
  ProviderVersionPublished,
  ProviderVersionPublishedData,
  ProviderVersionYanked,
  VersionStatus,
} from './provider.events';
import { ProviderId } from './provider-identity';
import { latestVersion, selectInstallableVersion } from './version-selection';

// ---------------------------------------------------------------------------------------------
// Fixtures: fixed clock, two organisations, one customer and one platform provider.
// ---------------------------------------------------------------------------------------------

const T1 = '2024-01-01T10:00:00.000Z';
const T2 = '2024-01-02T10:00:00.000Z';
const T3 = '2024-01-03T10:00:00.000Z';
const T4 = '2024-01-04T10:00:00.000Z';
const T5 = '2024-01-05T10:00:00.000Z';

const ACME: Publisher = { organizationId: 'acme', platformAdmin: false };
const OTHER: Publisher = { organizationId: 'globex', platformAdmin: false };
const ADMIN: Publisher = { organizationId: 'ops', platformAdmin: true };

const ACME_DB: ProviderId = { prefix: 'acme', name: 'db' };
const PLATFORM_DB: ProviderId = { prefix: 'platform', name: 'db' };

function publishCmd(overrides: Partial<PublishVersion> = {}): PublishVersion {
  return {
    type: 'PublishVersion',
    provider: ACME_DB,
    publisher: ACME,
    version: '1.0.0',
    runtimeVersion: '3.2.1',
    wheelUrl: 'https://wheels.example.com/acme_db-1.0.0-py3-none-any.whl',
    wheelSha256: 'a'.repeat(64),
    packageName: 'acme_db',
    entrypoint: ['acme_db.main:app'],
    schemas: [{ resource_type: 'database', schema: { type: 'object' } }],
    configSchema: { type: 'object' },
    outputsSchema: null,
    changelog: 'First release',
    metadata: null,
    now: T1,
    ...overrides,
  };
}

function yankCmd(overrides: Partial<YankVersion> = {}): YankVersion {
  return { type: 'YankVersion', provider: ACME_DB, publisher: ACME, version: '1.0.0', reason: 'CVE-2024-0001', now: T3, ...overrides };
}

function updateCmd(changes: CatalogMetadata, overrides: Partial<UpdateMetadata> = {}): UpdateMetadata {
  return { type: 'UpdateMetadata', provider: ACME_DB, publisher: ACME, changes, now: T3, ...overrides };
}

function deleteCmd(overrides: Partial<DeleteProvider> = {}): DeleteProvider {
  return { type: 'DeleteProvider', provider: ACME_DB, publisher: ACME, now: T4, ...overrides };
}

/** The event a successful publishCmd(overrides) produces. */
function publishedFrom(command: PublishVersion, status: VersionStatus = 'published'): ProviderVersionPublished {
  const data: ProviderVersionPublishedData = {
    prefix: command.provider.prefix,
    name: command.provider.name,
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
    status,
    published_at: status === 'published' ? command.now : null,
    at: command.now,
  };
  return { type: 'ProviderVersionPublished', data };
}

const published = (version: string, at: string, overrides: Partial<PublishVersion> = {}) =>
  publishedFrom(publishCmd({ version, now: at, ...overrides }));

const publishedWithStatus = (version: string, status: VersionStatus, at = T2) =>
  publishedFrom(publishCmd({ version, now: at }), status);

const yanked = (version: string, at: string, reason: string | null = 'broken', provider: ProviderId = ACME_DB): ProviderVersionYanked => ({
  type: 'ProviderVersionYanked',
  data: { ...provider, version, reason, at },
});

const metadataUpdated = (changes: CatalogMetadata, at: string, provider: ProviderId = ACME_DB): ProviderMetadataUpdated => ({
  type: 'ProviderMetadataUpdated',
  data: { ...provider, changes, at },
});

const deleted = (at: string, provider: ProviderId = ACME_DB): ProviderDeleted => ({ type: 'ProviderDeleted', data: { ...provider, at } });

// Histories by state.
const LISTED: ProviderEvent[] = [
  published('1.0.0', T1),
  metadataUpdated({ display_name: 'Acme DB', description: 'Databases on demand', tags: ['db', 'sql'] }, T1),
];
const LISTED_PLATFORM: ProviderEvent[] = [
  published('1.0.0', T1, { provider: PLATFORM_DB, publisher: ADMIN }),
  metadataUpdated({ display_name: 'Platform DB', tags: ['db'] }, T1, PLATFORM_DB),
];
const DELETED: ProviderEvent[] = [...LISTED, deleted(T2)];

function known(state: ProviderState): KnownProvider {
  if (state.status === 'unknown') throw new Error('expected a known provider');
  return state;
}

/** For the rules whose HTTP status matters: checks the error's kind as well as its code. */
function expectDomainError(run: () => unknown, code: string, kind: DomainErrorKind): void {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(DomainError);
  expect((error as DomainError).code).toBe(code);
  expect((error as DomainError).kind).toBe(kind);
}

const decideOn = (events: ProviderEvent[], command: ProviderCommand) => () =>
  providerDecider.decide(command, fold(providerDecider, events));

// ---------------------------------------------------------------------------------------------

describe('provider decider', () => {
  it('starts unknown', () => {
    expect(providerDecider.initialState).toEqual({ status: 'unknown' });
  });

  describe('when unknown', () => {
    it('a first publish without metadata emits only ProviderVersionPublished', () => {
      const command = publishCmd();
      given(providerDecider).when(command).then([publishedFrom(command)]);
    });

    it('the published version carries every field of the command, status published and published_at = now', () => {
      const command = publishCmd({ wheelSha256: null, packageName: null, entrypoint: null, changelog: null, configSchema: null });
      const [event] = providerDecider.decide(command, providerDecider.initialState);
      expect(event).toEqual({
        type: 'ProviderVersionPublished',
        data: {
          prefix: 'acme',
          name: 'db',
          version: '1.0.0',
          publisher_org: 'acme',
          runtime_version: '3.2.1',
          wheel_url: 'https://wheels.example.com/acme_db-1.0.0-py3-none-any.whl',
          wheel_sha256: null,
          package_name: null,
          entrypoint: null,
          schemas: [{ resource_type: 'database', schema: { type: 'object' } }],
          config_schema: null,
          outputs_schema: null,
          changelog: null,
          status: 'published',
          published_at: T1,
          at: T1,
        },
      });
    });

    it('a first publish with metadata also emits ProviderMetadataUpdated', () => {
      const command = publishCmd({
        metadata: { display_name: 'Acme DB', description: 'Databases', icon_url: 'https://x.example/i.png', readme: '# Hi', tags: ['db'] },
      });
      given(providerDecider)
        .when(command)
        .then([
          publishedFrom(command),
          metadataUpdated({ display_name: 'Acme DB', description: 'Databases', icon_url: 'https://x.example/i.png', readme: '# Hi', tags: ['db'] }, T1),
        ]);
    });

    it('a first publish carries only the non-empty metadata in the change', () => {
      const command = publishCmd({ metadata: { display_name: 'Acme DB', description: null, icon_url: undefined, readme: null, tags: [] } });
      given(providerDecider)
        .when(command)
        .then([publishedFrom(command), metadataUpdated({ display_name: 'Acme DB' }, T1)]);
    });

    it('a first publish with null tags does not emit a tags change', () => {
      const command = publishCmd({ metadata: { description: 'Databases', tags: null } });
      given(providerDecider)
        .when(command)
        .then([publishedFrom(command), metadataUpdated({ description: 'Databases' }, T1)]);
    });

    it('a first publish whose metadata is all empty emits no ProviderMetadataUpdated', () => {
      const command = publishCmd({ metadata: { display_name: null, description: null, icon_url: null, readme: null, tags: [] } });
      given(providerDecider).when(command).then([publishedFrom(command)]);
    });

    it('a first publish with an empty metadata object emits no ProviderMetadataUpdated', () => {
      const command = publishCmd({ metadata: {} });
      given(providerDecider).when(command).then([publishedFrom(command)]);
    });

    it('a first publish lists the provider, owned by the publishing organisation', () => {
      const state = known(
        given(providerDecider)
          .when(publishCmd({ metadata: { display_name: 'Acme DB', tags: ['db'] } }))
          .thenState(),
      );
      expect(state.status).toBe('listed');
      expect(state.prefix).toBe('acme');
      expect(state.name).toBe('db');
      expect(state.ownerOrg).toBe('acme');
      expect(state.createdAt).toBe(T1);
      expect(state.updatedAt).toBe(T1);
      expect(state.catalog).toEqual({ scope: 'public', display_name: 'Acme DB', description: null, icon_url: null, readme: null, tags: ['db'] });
      expect(Object.keys(state.versions)).toEqual(['1.0.0']);
      expect(state.versions['1.0.0']).toMatchObject({
        version: '1.0.0',
        status: 'published',
        published_at: T1,
        publisher_org: 'acme',
        yanked_reason: null,
        created_at: T1,
        updated_at: T1,
      });
      expect(state.versions['1.0.0']).not.toHaveProperty('prefix');
      expect(state.versions['1.0.0']).not.toHaveProperty('at');
    });

    it('publishing under another organisation’s prefix fails with prefix_not_owned', () => {
      given(providerDecider)
        .when(publishCmd({ publisher: OTHER }))
        .thenFails('prefix_not_owned');
    });

    it('prefix_not_owned is a forbidden error (403)', () => {
      expectDomainError(decideOn([], publishCmd({ publisher: OTHER })), 'prefix_not_owned', 'forbidden');
    });

    it('a platform admin still may not publish under another organisation’s prefix', () => {
      given(providerDecider)
        .when(publishCmd({ publisher: ADMIN }))
        .thenFails('prefix_not_owned');
    });

    it('publishing under platform/ without a platform-admin key fails with platform_admin_required', () => {
      given(providerDecider)
        .when(publishCmd({ provider: PLATFORM_DB, publisher: ACME }))
        .thenFails('platform_admin_required');
    });

    it('platform_admin_required is a forbidden error (403)', () => {
      expectDomainError(decideOn([], publishCmd({ provider: PLATFORM_DB, publisher: ACME })), 'platform_admin_required', 'forbidden');
    });

    it('an organisation called "platform" without the admin flag may not publish under platform/', () => {
      given(providerDecider)
        .when(publishCmd({ provider: PLATFORM_DB, publisher: { organizationId: 'platform', platformAdmin: false } }))
        .thenFails('platform_admin_required');
    });

    it('publishing under platform/ with a platform-admin key succeeds', () => {
      const command = publishCmd({ provider: PLATFORM_DB, publisher: ADMIN, metadata: { display_name: 'Platform DB' } });
      given(providerDecider)
        .when(command)
        .then([publishedFrom(command), metadataUpdated({ display_name: 'Platform DB' }, T1, PLATFORM_DB)]);
    });

    it('yanking a version of an unknown provider fails with provider_not_found', () => {
      given(providerDecider).when(yankCmd()).thenFails('provider_not_found');
    });

    it('provider_not_found is a not_found error (404)', () => {
      expectDomainError(decideOn([], yankCmd()), 'provider_not_found', 'not_found');
    });

    it('updating metadata of an unknown provider fails with provider_not_found', () => {
      given(providerDecider).when(updateCmd({ display_name: 'X' })).thenFails('provider_not_found');
    });

    it('deleting an unknown provider fails with provider_not_found', () => {
      given(providerDecider).when(deleteCmd()).thenFails('provider_not_found');
    });

    it('authorisation comes first: yanking under a foreign prefix fails with prefix_not_owned even when unknown', () => {
      given(providerDecider).when(yankCmd({ publisher: OTHER })).thenFails('prefix_not_owned');
    });
  });

  describe('when listed', () => {
    it('publishing a new version emits only ProviderVersionPublished', () => {
      const command = publishCmd({ version: '1.1.0', now: T2 });
      given(providerDecider, LISTED).when(command).then([publishedFrom(command)]);
    });

    it('a new version is added next to the existing ones; createdAt stays, updatedAt moves', () => {
      const state = known(given(providerDecider, LISTED).when(publishCmd({ version: '1.1.0', now: T2 })).thenState());
      expect(Object.keys(state.versions).sort()).toEqual(['1.0.0', '1.1.0']);
      expect(state.createdAt).toBe(T1);
      expect(state.updatedAt).toBe(T2);
      expect(state.versions['1.0.0'].created_at).toBe(T1);
      expect(state.versions['1.1.0'].created_at).toBe(T2);
    });

    it('a later publish of a customer provider ignores its metadata', () => {
      const command = publishCmd({ version: '1.1.0', now: T2, metadata: { display_name: 'Renamed', tags: ['other'] } });
      given(providerDecider, LISTED).when(command).then([publishedFrom(command)]);
    });

    it('a later publish of a customer provider leaves the catalog untouched', () => {
      const before = known(given(providerDecider, LISTED).state).catalog;
      const state = known(
        given(providerDecider, LISTED)
          .when(publishCmd({ version: '1.1.0', now: T2, metadata: { display_name: 'Renamed' } }))
          .thenState(),
      );
      expect(state.catalog).toEqual(before);
    });

    it('a later publish of a platform provider applies only the metadata that changed', () => {
      const command = publishCmd({
        provider: PLATFORM_DB,
        publisher: ADMIN,
        version: '1.1.0',
        now: T2,
        metadata: { display_name: 'Platform DB', description: 'Managed databases', tags: ['db'] },
      });
      given(providerDecider, LISTED_PLATFORM)
        .when(command)
        .then([publishedFrom(command), metadataUpdated({ description: 'Managed databases' }, T2, PLATFORM_DB)]);
    });

    it('a later publish of a platform provider with unchanged metadata emits no ProviderMetadataUpdated', () => {
      const command = publishCmd({
        provider: PLATFORM_DB,
        publisher: ADMIN,
        version: '1.1.0',
        now: T2,
        metadata: { display_name: 'Platform DB', tags: ['db'] },
      });
      given(providerDecider, LISTED_PLATFORM).when(command).then([publishedFrom(command)]);
    });

    it('a later publish of a platform provider can clear a field', () => {
      const command = publishCmd({ provider: PLATFORM_DB, publisher: ADMIN, version: '1.1.0', now: T2, metadata: { display_name: null, tags: null } });
      given(providerDecider, LISTED_PLATFORM)
        .when(command)
        .then([publishedFrom(command), metadataUpdated({ display_name: null, tags: [] }, T2, PLATFORM_DB)]);
    });

    it('a later platform publish by a non-admin fails with platform_admin_required', () => {
      given(providerDecider, LISTED_PLATFORM)
        .when(publishCmd({ provider: PLATFORM_DB, publisher: ACME, version: '1.1.0', now: T2 }))
        .thenFails('platform_admin_required');
    });

    it('a later platform publish may come from another platform admin', () => {
      const command = publishCmd({ provider: PLATFORM_DB, publisher: { organizationId: 'ops-2', platformAdmin: true }, version: '1.1.0', now: T2 });
      given(providerDecider, LISTED_PLATFORM).when(command).then([publishedFrom(command)]);
    });

    it('publishing an existing version fails with version_exists', () => {
      given(providerDecider, LISTED).when(publishCmd({ now: T2 })).thenFails('version_exists');
    });

    it('version_exists is a conflict (409)', () => {
      expectDomainError(decideOn(LISTED, publishCmd({ now: T2 })), 'version_exists', 'conflict');
    });

    it('publishing an existing version with different content still fails with version_exists (versions are immutable)', () => {
      given(providerDecider, LISTED)
        .when(publishCmd({ now: T2, wheelUrl: 'https://wheels.example.com/other-1.0.0-py3-none-any.whl', changelog: 'changed' }))
        .thenFails('version_exists');
    });

    it('publishing the number of a yanked version fails with version_exists', () => {
      given(providerDecider, [...LISTED, yanked('1.0.0', T2)])
        .when(publishCmd({ now: T3 }))
        .thenFails('version_exists');
    });

    it('the version_exists message says when the existing version is yanked', () => {
      expect(decideOn([...LISTED, yanked('1.0.0', T2)], publishCmd({ now: T3 }))).toThrow(/yanked/);
    });

    it('publishing an existing version under a foreign prefix fails with prefix_not_owned first', () => {
      given(providerDecider, LISTED).when(publishCmd({ publisher: OTHER, now: T2 })).thenFails('prefix_not_owned');
    });

    it('publishing a new version under a foreign prefix fails with prefix_not_owned', () => {
      given(providerDecider, LISTED).when(publishCmd({ publisher: OTHER, version: '2.0.0', now: T2 })).thenFails('prefix_not_owned');
    });

    it('yanking a published version emits ProviderVersionYanked', () => {
      given(providerDecider, LISTED)
        .when(yankCmd())
        .then([yanked('1.0.0', T3, 'CVE-2024-0001')]);
    });

    it('yanking without a reason emits a null reason', () => {
      given(providerDecider, LISTED)
        .when(yankCmd({ reason: null }))
        .then([yanked('1.0.0', T3, null)]);
    });

    it('a yanked version is marked yanked with its reason; the others are untouched', () => {
      const state = known(
        given(providerDecider, [...LISTED, published('1.1.0', T2)])
          .when(yankCmd())
          .thenState(),
      );
      expect(state.status).toBe('listed');
      expect(state.versions['1.0.0']).toMatchObject({ status: 'yanked', yanked_reason: 'CVE-2024-0001', created_at: T1, updated_at: T3 });
      expect(state.versions['1.1.0']).toMatchObject({ status: 'published', yanked_reason: null, updated_at: T2 });
      expect(state.updatedAt).toBe(T3);
    });

    it('yanking an unknown version fails with version_not_found', () => {
      given(providerDecider, LISTED).when(yankCmd({ version: '9.9.9' })).thenFails('version_not_found');
    });

    it('version_not_found is a not_found error (404)', () => {
      expectDomainError(decideOn(LISTED, yankCmd({ version: '9.9.9' })), 'version_not_found', 'not_found');
    });

    it('yanking a version twice fails with version_already_yanked', () => {
      given(providerDecider, [...LISTED, yanked('1.0.0', T2)])
        .when(yankCmd())
        .thenFails('version_already_yanked');
    });

    it('version_already_yanked is a conflict (409)', () => {
      expectDomainError(decideOn([...LISTED, yanked('1.0.0', T2)], yankCmd()), 'version_already_yanked', 'conflict');
    });

    it('yanking under a foreign prefix fails with prefix_not_owned', () => {
      given(providerDecider, LISTED).when(yankCmd({ publisher: OTHER })).thenFails('prefix_not_owned');
    });

    it('yanking a platform version without a platform-admin key fails with platform_admin_required', () => {
      given(providerDecider, LISTED_PLATFORM)
        .when(yankCmd({ provider: PLATFORM_DB, publisher: ACME }))
        .thenFails('platform_admin_required');
    });

    it('yanking a platform version with a platform-admin key succeeds', () => {
      given(providerDecider, LISTED_PLATFORM)
        .when(yankCmd({ provider: PLATFORM_DB, publisher: ADMIN }))
        .then([yanked('1.0.0', T3, 'CVE-2024-0001', PLATFORM_DB)]);
    });

    it('updating metadata with no actual change does nothing', () => {
      given(providerDecider, LISTED)
        .when(updateCmd({ display_name: 'Acme DB', description: 'Databases on demand', tags: ['db', 'sql'] }))
        .thenNothingHappens();
    });

    it('updating metadata with an empty change set does nothing', () => {
      given(providerDecider, LISTED).when(updateCmd({})).thenNothingHappens();
    });

    it('updating metadata emits only the fields that changed', () => {
      given(providerDecider, LISTED)
        .when(updateCmd({ display_name: 'Acme DB', description: 'Postgres on demand', readme: '# Acme DB', tags: ['db', 'sql'] }))
        .then([metadataUpdated({ description: 'Postgres on demand', readme: '# Acme DB' }, T3)]);
    });

    it('updating metadata can clear a field with null', () => {
      given(providerDecider, LISTED)
        .when(updateCmd({ description: null }))
        .then([metadataUpdated({ description: null }, T3)]);
    });

    it('setting a field that is already null to null does nothing', () => {
      given(providerDecider, LISTED).when(updateCmd({ icon_url: null })).thenNothingHappens();
    });

    it('null tags clear existing tags (to an empty list)', () => {
      given(providerDecider, LISTED)
        .when(updateCmd({ tags: null }))
        .then([metadataUpdated({ tags: [] }, T3)]);
    });

    it('null tags when there are none does nothing', () => {
      given(providerDecider, [published('1.0.0', T1)]).when(updateCmd({ tags: null })).thenNothingHappens();
    });

    it('changed tags are emitted as the whole new list', () => {
      given(providerDecider, LISTED)
        .when(updateCmd({ tags: ['db', 'sql', 'postgres'] }))
        .then([metadataUpdated({ tags: ['db', 'sql', 'postgres'] }, T3)]);
    });

    it('applied metadata changes show in the catalog; untouched fields stay', () => {
      const state = known(
        given(providerDecider, LISTED)
          .when(updateCmd({ description: 'Postgres on demand', icon_url: 'https://x.example/i.png' }))
          .thenState(),
      );
      expect(state.catalog).toEqual({
        scope: 'public',
        display_name: 'Acme DB',
        description: 'Postgres on demand',
        icon_url: 'https://x.example/i.png',
        readme: null,
        tags: ['db', 'sql'],
      });
      expect(state.updatedAt).toBe(T3);
    });

    it('updating metadata under a foreign prefix fails with prefix_not_owned', () => {
      given(providerDecider, LISTED).when(updateCmd({ display_name: 'Hijacked' }, { publisher: OTHER })).thenFails('prefix_not_owned');
    });

    it('updating platform metadata without a platform-admin key fails with platform_admin_required', () => {
      given(providerDecider, LISTED_PLATFORM)
        .when(updateCmd({ display_name: 'X' }, { provider: PLATFORM_DB, publisher: ACME }))
        .thenFails('platform_admin_required');
    });

    it('updating platform metadata with a platform-admin key succeeds', () => {
      given(providerDecider, LISTED_PLATFORM)
        .when(updateCmd({ display_name: 'X' }, { provider: PLATFORM_DB, publisher: ADMIN }))
        .then([metadataUpdated({ display_name: 'X' }, T3, PLATFORM_DB)]);
    });

    it('deleting the provider emits ProviderDeleted', () => {
      given(providerDecider, LISTED).when(deleteCmd()).then([deleted(T4)]);
    });

    it('a deleted provider keeps its versions and catalog (history stays)', () => {
      const before = known(given(providerDecider, LISTED).state);
      const state = known(given(providerDecider, LISTED).when(deleteCmd()).thenState());
      expect(state.status).toBe('deleted');
      expect(state.versions).toEqual(before.versions);
      expect(state.catalog).toEqual(before.catalog);
      expect(state.updatedAt).toBe(T4);
    });

    it('deleting under a foreign prefix fails with prefix_not_owned', () => {
      given(providerDecider, LISTED).when(deleteCmd({ publisher: OTHER })).thenFails('prefix_not_owned');
    });

    it('deleting a platform provider without a platform-admin key fails with platform_admin_required', () => {
      given(providerDecider, LISTED_PLATFORM)
        .when(deleteCmd({ provider: PLATFORM_DB, publisher: ACME }))
        .thenFails('platform_admin_required');
    });

    it('deleting a platform provider with a platform-admin key succeeds', () => {
      given(providerDecider, LISTED_PLATFORM)
        .when(deleteCmd({ provider: PLATFORM_DB, publisher: ADMIN }))
        .then([deleted(T4, PLATFORM_DB)]);
    });
  });

  describe('when deleted', () => {
    it('yanking fails with provider_not_found', () => {
      given(providerDecider, DELETED).when(yankCmd()).thenFails('provider_not_found');
    });

    it('updating metadata fails with provider_not_found', () => {
      given(providerDecider, DELETED).when(updateCmd({ display_name: 'Back' })).thenFails('provider_not_found');
    });

    it('updating metadata with no change still fails with provider_not_found', () => {
      given(providerDecider, DELETED).when(updateCmd({})).thenFails('provider_not_found');
    });

    it('deleting again fails with provider_not_found', () => {
      given(providerDecider, DELETED).when(deleteCmd({ now: T5 })).thenFails('provider_not_found');
    });

    it('republishing a version it had fails with version_exists (versions stay immutable)', () => {
      given(providerDecider, DELETED).when(publishCmd({ now: T3 })).thenFails('version_exists');
    });

    it('foreign organisations still may not publish under its prefix', () => {
      given(providerDecider, DELETED).when(publishCmd({ publisher: OTHER, version: '2.0.0', now: T3 })).thenFails('prefix_not_owned');
    });

    it('authorisation comes first: deleting under a foreign prefix fails with prefix_not_owned', () => {
      given(providerDecider, DELETED).when(deleteCmd({ publisher: OTHER })).thenFails('prefix_not_owned');
    });
  });

  describe('evolve', () => {
    const unknownEvent = { type: 'SomethingElse', data: { at: T5 } } as unknown as ProviderEvent;

    it.each<[string, ProviderEvent[]]>([
      ['unknown', []],
      ['listed', LISTED],
      ['deleted', DELETED],
    ])('is total: an unknown event type leaves a %s provider as it was', (_label, history) => {
      const state = fold(providerDecider, history);
      expect(providerDecider.evolve(state, unknownEvent)).toBe(state);
    });

    it.each<[string, ProviderEvent]>([
      ['ProviderVersionYanked', yanked('1.0.0', T2)],
      ['ProviderMetadataUpdated', metadataUpdated({ display_name: 'X' }, T2)],
      ['ProviderDeleted', deleted(T2)],
    ])('ignores %s on an unknown provider', (_label, event) => {
      const state = providerDecider.initialState;
      expect(providerDecider.evolve(state, event)).toBe(state);
    });

    it('ignores a yank of a version the provider does not have', () => {
      const state = fold(providerDecider, LISTED);
      expect(providerDecider.evolve(state, yanked('9.9.9', T2))).toBe(state);
    });

    it('does not mutate the previous state', () => {
      const state = fold(providerDecider, LISTED);
      const snapshot = JSON.parse(JSON.stringify(state));
      providerDecider.evolve(state, published('2.0.0', T2));
      providerDecider.evolve(state, yanked('1.0.0', T2));
      providerDecider.evolve(state, metadataUpdated({ tags: ['x'] }, T2));
      providerDecider.evolve(state, deleted(T2));
      expect(state).toEqual(snapshot);
    });

    it('folds a whole history', () => {
      const state = known(
        fold(providerDecider, [
          ...LISTED,
          published('1.1.0', T2),
          yanked('1.0.0', T3),
          metadataUpdated({ readme: '# Readme' }, T4),
        ]),
      );
      expect(state.status).toBe('listed');
      expect(state.versions['1.0.0'].status).toBe('yanked');
      expect(state.versions['1.1.0'].status).toBe('published');
      expect(state.catalog.readme).toBe('# Readme');
      expect(state.catalog.display_name).toBe('Acme DB');
      expect(state.updatedAt).toBe(T4);
    });
  });

  describe('mayPublishUnder', () => {
    it.each<[string, boolean, Publisher, string]>([
      ['own prefix', true, ACME, 'acme'],
      ['foreign prefix', false, ACME, 'globex'],
      ['platform without admin', false, ACME, 'platform'],
      ['platform with admin', true, ADMIN, 'platform'],
      ['admin on a foreign prefix', false, ADMIN, 'acme'],
    ])('%s → %s', (_label, expected, publisher, prefix) => {
      expect(mayPublishUnder(publisher, prefix)).toBe(expected);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('private providers (metadata.scope)', () => {
  const PRIVATE: ProviderEvent[] = [published('1.0.0', T1), metadataUpdated({ scope: 'tenant' }, T1)];

  it('a first publish with scope tenant records the scope with the metadata', () => {
    const command = publishCmd({ metadata: { scope: 'tenant', display_name: 'Acme DB' } });
    given(providerDecider)
      .when(command)
      .then([publishedFrom(command), metadataUpdated({ scope: 'tenant', display_name: 'Acme DB' }, T1)]);
  });

  it('a provider published without a scope is public', () => {
    expect(known(fold(providerDecider, LISTED)).catalog.scope).toBe('public');
  });

  it('a public scope on a new provider changes nothing (public is the default)', () => {
    const command = publishCmd({ metadata: { scope: 'public' } });
    given(providerDecider).when(command).then([publishedFrom(command)]);
  });

  it('PATCH makes a public provider private, and back', () => {
    given(providerDecider, LISTED).when(updateCmd({ scope: 'tenant' })).then([metadataUpdated({ scope: 'tenant' }, T3)]);
    given(providerDecider, PRIVATE).when(updateCmd({ scope: 'public' })).then([metadataUpdated({ scope: 'public' }, T3)]);
  });

  it('PATCH with the scope the provider already has appends nothing', () => {
    given(providerDecider, PRIVATE).when(updateCmd({ scope: 'tenant' })).thenNothingHappens();
  });

  it('another organisation cannot change the scope (prefix_not_owned, whether or not it exists)', () => {
    given(providerDecider, PRIVATE).when(updateCmd({ scope: 'public' }, { publisher: OTHER })).thenFails('prefix_not_owned');
  });

  it('other metadata changes keep the scope', () => {
    const state = known(given(providerDecider, PRIVATE).when(updateCmd({ display_name: 'Renamed' })).thenState());
    expect(state.catalog).toMatchObject({ scope: 'tenant', display_name: 'Renamed' });
  });

  it('a private provider is visible to its organisation and platform admins only', () => {
    const state = known(fold(providerDecider, PRIVATE));
    expect([isVisibleTo(state, ACME), isVisibleTo(state, ADMIN), isVisibleTo(state, OTHER)]).toEqual([true, true, false]);
  });

  it('a private provider is installable by its organisation alone', () => {
    const state = known(fold(providerDecider, PRIVATE));
    expect([isInstallableBy(state, 'acme'), isInstallableBy(state, 'ops'), isInstallableBy(state, 'globex')]).toEqual([true, false, false]);
  });

  it('a public provider is visible to and installable by everyone', () => {
    const state = known(fold(providerDecider, LISTED));
    expect([isVisibleTo(state, OTHER), isInstallableBy(state, 'globex')]).toEqual([true, true]);
  });
});

describe('runtime_image at publish', () => {
  it('is recorded on the version when given', () => {
    const command = publishCmd({ runtimeImage: 'ghcr.io/acme/runtime:1.2.3' });
    given(providerDecider)
      .when(command)
      .then([{ ...publishedFrom(command), data: { ...publishedFrom(command).data, runtime_image: 'ghcr.io/acme/runtime:1.2.3' } }]);
    const state = known(given(providerDecider).when(command).thenState());
    expect(state.versions['1.0.0'].runtime_image).toBe('ghcr.io/acme/runtime:1.2.3');
  });

  it('is left out of the event when not given (the event keeps its old shape)', () => {
    const [event] = providerDecider.decide(publishCmd({ runtimeImage: null }), providerDecider.initialState);
    expect(event.data).not.toHaveProperty('runtime_image');
  });
});

// ---------------------------------------------------------------------------------------------

describe('version selection', () => {
  const history = (...events: ProviderEvent[]) => fold(providerDecider, events);

  describe('latestVersion', () => {
    it('is undefined for an unknown provider', () => {
      expect(latestVersion(providerDecider.initialState)).toBeUndefined();
    });

    it('is undefined for a deleted provider', () => {
      expect(latestVersion(history(...DELETED))).toBeUndefined();
    });

    it('is the only version when there is one', () => {
      expect(latestVersion(history(published('1.0.0', T1)))?.version).toBe('1.0.0');
    });

    it('is the highest semver, not the latest published nor the highest string', () => {
      const state = history(published('1.10.0', T1), published('1.9.0', T2), published('1.2.0', T3));
      expect(latestVersion(state)?.version).toBe('1.10.0');
    });

    it('prefers the highest stable over a higher prerelease: 1.0.0, 1.1.0, 2.0.0-rc.1 → 1.1.0', () => {
      const state = history(published('1.0.0', T1), published('1.1.0', T2), published('2.0.0-rc.1', T3));
      expect(latestVersion(state)?.version).toBe('1.1.0');
    });

    it('skips yanked versions: yank 1.1.0 → 1.0.0', () => {
      const state = history(published('1.0.0', T1), published('1.1.0', T2), published('2.0.0-rc.1', T3), yanked('1.1.0', T4));
      expect(latestVersion(state)?.version).toBe('1.0.0');
    });

    it('uses a prerelease when no stable version exists: only 2.0.0-rc.1 → 2.0.0-rc.1', () => {
      expect(latestVersion(history(published('2.0.0-rc.1', T1)))?.version).toBe('2.0.0-rc.1');
    });

    it('orders prereleases by semver: 2.0.0-rc.1, 2.0.0-rc.2, 2.0.0-beta.9 → 2.0.0-rc.2', () => {
      const state = history(published('2.0.0-rc.1', T1), published('2.0.0-rc.2', T2), published('2.0.0-beta.9', T3));
      expect(latestVersion(state)?.version).toBe('2.0.0-rc.2');
    });

    it('falls back to a prerelease when every stable version is yanked', () => {
      const state = history(published('1.0.0', T1), published('2.0.0-rc.1', T2), yanked('1.0.0', T3));
      expect(latestVersion(state)?.version).toBe('2.0.0-rc.1');
    });

    it('is undefined when every version is yanked', () => {
      const state = history(published('1.0.0', T1), yanked('1.0.0', T2));
      expect(latestVersion(state)).toBeUndefined();
    });

    it('ignores building and failed versions', () => {
      const state = history(published('1.0.0', T1), publishedWithStatus('1.1.0', 'building'), publishedWithStatus('1.2.0', 'failed'));
      expect(latestVersion(state)?.version).toBe('1.0.0');
    });

    it('does not reorder the state’s versions', () => {
      const state = history(published('1.0.0', T1), published('2.0.0', T2), published('1.5.0', T3));
      latestVersion(state);
      expect(Object.keys(known(state).versions)).toEqual(['1.0.0', '2.0.0', '1.5.0']);
    });
  });

  describe('selectInstallableVersion', () => {
    const LISTED_MANY = history(published('1.0.0', T1), published('1.1.0', T2), published('2.0.0-rc.1', T3));

    it('without a requested version returns latest', () => {
      expect(selectInstallableVersion(LISTED_MANY, ACME_DB, undefined).version).toBe('1.1.0');
      expect(selectInstallableVersion(LISTED_MANY, ACME_DB, null).version).toBe('1.1.0');
    });

    it('returns the requested published version, even an older one or a prerelease', () => {
      expect(selectInstallableVersion(LISTED_MANY, ACME_DB, '1.0.0').version).toBe('1.0.0');
      expect(selectInstallableVersion(LISTED_MANY, ACME_DB, '2.0.0-rc.1').version).toBe('2.0.0-rc.1');
    });

    it('fails with provider_not_found for an unknown provider', () => {
      expectDomainError(() => selectInstallableVersion(providerDecider.initialState, ACME_DB, '1.0.0'), 'provider_not_found', 'not_found');
    });

    it('fails with provider_not_found for a deleted provider', () => {
      expectDomainError(() => selectInstallableVersion(history(...DELETED), ACME_DB, '1.0.0'), 'provider_not_found', 'not_found');
      expectDomainError(() => selectInstallableVersion(history(...DELETED), ACME_DB, null), 'provider_not_found', 'not_found');
    });

    it('fails with version_not_found for a version the provider does not have', () => {
      expectDomainError(() => selectInstallableVersion(LISTED_MANY, ACME_DB, '9.9.9'), 'version_not_found', 'not_found');
    });

    it('fails with version_not_found for latest when every version is yanked', () => {
      const state = history(published('1.0.0', T1), yanked('1.0.0', T2));
      expectDomainError(() => selectInstallableVersion(state, ACME_DB, undefined), 'version_not_found', 'not_found');
    });

    it('fails with version_yanked (422) for a yanked version', () => {
      const state = history(published('1.0.0', T1), published('1.1.0', T2), yanked('1.1.0', T3));
      expectDomainError(() => selectInstallableVersion(state, ACME_DB, '1.1.0'), 'version_yanked', 'invalid');
    });

    it('never resolves latest to a yanked version', () => {
      const state = history(published('1.0.0', T1), published('1.1.0', T2), yanked('1.1.0', T3));
      expect(selectInstallableVersion(state, ACME_DB, null).version).toBe('1.0.0');
    });

    it.each<VersionStatus>(['building', 'failed'])('fails with version_not_ready for a %s version', (status) => {
      const state = history(published('1.0.0', T1), publishedWithStatus('1.1.0', status));
      expectDomainError(() => selectInstallableVersion(state, ACME_DB, '1.1.0'), 'version_not_ready', 'conflict');
    });
  });
});
