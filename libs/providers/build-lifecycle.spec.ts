import { fold } from '../domain/decider';
import { given } from '../domain/given-when-then';
import { CompleteBuild, PublishUploadedVersion, Publisher } from './provider.commands';
import { ProviderState, providerDecider } from './provider.decider';
import { ProviderEvent } from './provider.events';
import { ProviderId } from './provider-identity';
import { latestVersion, selectInstallableVersion } from './version-selection';

const T1 = '2024-01-01T10:00:00.000Z';
const T2 = '2024-01-01T10:01:00.000Z';
const ACME: Publisher = { organizationId: 'acme', platformAdmin: false };
const ACME_PKG: ProviderId = { prefix: 'acme', name: 'pkg' };
const SHA = 'b'.repeat(64);

function upload(version = '1.0.0', publisher: Publisher = ACME): PublishUploadedVersion {
  return {
    type: 'PublishUploadedVersion',
    provider: ACME_PKG,
    publisher,
    version,
    runtimeVersion: '3.2.1',
    wheelUrl: `http://store.example/artifacts/${SHA}`,
    wheelSha256: SHA,
    packageName: null,
    entrypoint: null,
    schemas: [],
    configSchema: null,
    outputsSchema: null,
    changelog: null,
    metadata: null,
    wheelFilename: 'acme_pkg-1.0.0-py3-none-any.whl',
    wheelSize: 1234,
    now: T1,
  };
}

const complete = (result: CompleteBuild['result'], version = '1.0.0'): CompleteBuild => ({ type: 'CompleteBuild', provider: ACME_PKG, version, result, now: T2 });

function uploaded(version = '1.0.0'): ProviderEvent[] {
  return providerDecider.decide(upload(version), fold(providerDecider, []));
}

describe('the build lifecycle of an uploaded version', () => {
  it('an upload is born building, with no published_at', () => {
    const state: ProviderState = given(providerDecider).when(upload()).thenState();
    expect(state.status === 'listed' && state.versions['1.0.0']).toMatchObject({ status: 'building', published_at: null, wheel_sha256: SHA });
  });

  it('an upload records what validation reads: the filename, digest and size', () => {
    const events = given(providerDecider).when(upload()).thenState();
    expect(events.status).toBe('listed');
    expect(uploaded().map((e) => e.type)).toEqual(['ProviderVersionPublished', 'ProviderVersionUploaded']);
    expect(uploaded()[1].data).toEqual({ prefix: 'acme', name: 'pkg', version: '1.0.0', wheel_filename: 'acme_pkg-1.0.0-py3-none-any.whl', wheel_sha256: SHA, wheel_size: 1234, at: T1 });
  });

  it('an upload of an existing version fails with version_exists', () => {
    given(providerDecider, uploaded()).when(upload()).thenFails('version_exists');
  });

  it('an upload under a foreign prefix fails with prefix_not_owned', () => {
    given(providerDecider).when(upload('1.0.0', { organizationId: 'globex', platformAdmin: false })).thenFails('prefix_not_owned');
  });

  it('a good wheel makes the version published, inferring the package name', () => {
    given(providerDecider, uploaded()).when(complete({ ok: true, packageName: 'acme_pkg' })).then([
      { type: 'ProviderVersionBuildSucceeded', data: { prefix: 'acme', name: 'pkg', version: '1.0.0', package_name: 'acme_pkg', at: T2 } },
    ]);
    const state = given(providerDecider, uploaded()).when(complete({ ok: true, packageName: 'acme_pkg' })).thenState();
    expect(state.status === 'listed' && state.versions['1.0.0']).toMatchObject({ status: 'published', published_at: T2, package_name: 'acme_pkg' });
  });

  it('a bad wheel makes the version failed with the reason', () => {
    const state = given(providerDecider, uploaded()).when(complete({ ok: false, errorMessage: 'RECORD mismatch for pkg/a.py' })).thenState();
    expect(state.status === 'listed' && state.versions['1.0.0']).toMatchObject({ status: 'failed', error_message: 'RECORD mismatch for pkg/a.py' });
  });

  it('a redelivered verdict changes nothing', () => {
    const succeeded = providerDecider.decide(complete({ ok: true, packageName: null }), fold(providerDecider, uploaded()));
    given(providerDecider, [...uploaded(), ...succeeded]).when(complete({ ok: false, errorMessage: 'late' })).thenNothingHappens();
  });

  it('a verdict on an unknown version changes nothing', () => {
    given(providerDecider, uploaded()).when(complete({ ok: true, packageName: null }, '9.9.9')).thenNothingHappens();
  });

  it('building and failed versions are neither latest nor installable (version_not_ready)', () => {
    const failed = providerDecider.decide(complete({ ok: false, errorMessage: 'bad zip' }), fold(providerDecider, uploaded()));
    const state = fold(providerDecider, [...uploaded(), ...failed, ...providerDecider.decide(upload('1.1.0'), fold(providerDecider, [...uploaded(), ...failed]))]);
    expect(latestVersion(state)).toBeUndefined();
    expect(() => selectInstallableVersion(state, ACME_PKG, '1.0.0')).toThrow(/bad zip/);
    expect(() => selectInstallableVersion(state, ACME_PKG, '1.1.0')).toThrow(expect.objectContaining({ code: 'version_not_ready' }));
  });
});
