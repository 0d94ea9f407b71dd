import type { CompleteBuild, PublishUploadedVersion, PublishVersion } from './provider.commands';
import type { ProviderState } from './provider.decider';
import type { ProviderEvent, ProviderVersionBuildFailed, ProviderVersionBuildSucceeded, VersionStatus } from './provider.events';

/**
 * An uploaded version follows the same rules as one published by URL (owner, immutability, catalog
 * metadata) but is born `building`: nobody may install it until validation has looked inside the wheel.
 */
export function publishUploaded(
  command: PublishUploadedVersion,
  state: ProviderState,
  publish: (command: PublishVersion, state: ProviderState) => ProviderEvent[],
): ProviderEvent[] {
  const { wheelFilename, wheelSize, ...version } = command;
  const events = publish({ ...version, type: 'PublishVersion' }, state).map((event) =>
    event.type === 'ProviderVersionPublished' ? { ...event, data: { ...event.data, status: 'building' as VersionStatus, published_at: null } } : event,
  );
  const { prefix, name } = command.provider;
  const uploaded: ProviderEvent = {
    type: 'ProviderVersionUploaded',
    data: { prefix, name, version: command.version, wheel_filename: wheelFilename, wheel_sha256: command.wheelSha256, wheel_size: wheelSize, at: command.now },
  };
  return [...events, uploaded];
}

/**
 * Validation's verdict. Only a `building` version takes one: a redelivered verdict, or one arriving
 * after a yank or the provider's deletion, changes nothing.
 */
export function completeBuild(command: CompleteBuild, state: ProviderState): ProviderEvent[] {
  if (state.status !== 'listed') return [];
  const version = state.versions[command.version];
  if (!version || version.status !== 'building') return [];
  const { prefix, name } = command.provider;
  if (command.result.ok) {
    return [{ type: 'ProviderVersionBuildSucceeded', data: { prefix, name, version: command.version, package_name: command.result.packageName, at: command.now } }];
  }
  return [{ type: 'ProviderVersionBuildFailed', data: { prefix, name, version: command.version, error_message: command.result.errorMessage, at: command.now } }];
}

export function evolveBuild(state: ProviderState, event: ProviderVersionBuildSucceeded | ProviderVersionBuildFailed): ProviderState {
  if (state.status === 'unknown') return state;
  const version = state.versions[event.data.version];
  if (!version) return state;
  const at = event.data.at;
  const next =
    event.type === 'ProviderVersionBuildSucceeded'
      ? { ...version, status: 'published' as VersionStatus, published_at: at, package_name: version.package_name ?? event.data.package_name, updated_at: at }
      : { ...version, status: 'failed' as VersionStatus, error_message: event.data.error_message, updated_at: at };
  return { ...state, versions: { ...state.versions, [event.data.version]: next }, updatedAt: at };
}
