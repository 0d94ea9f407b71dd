import * as semver from 'semver';
import { conflict, invalid, notFound } from '../domain/domain-error';
import { CommandOutcome } from '../application/command-runner';
import { ProviderState, VersionState } from './provider.decider';
import { ProviderId, canonicalOf } from './provider-identity';

/**
 * The version a tenant gets when it names none: the highest published, non-yanked semver, where a
 * prerelease counts only when no stable version exists.
 */
export function latestVersion(state: ProviderState): VersionState | undefined {
  if (state.status !== 'listed') return undefined;
  const candidates = Object.values(state.versions).filter((v) => v.status === 'published');
  const stable = candidates.filter((v) => semver.prerelease(v.version) === null);
  const pool = stable.length > 0 ? stable : candidates;
  return pool.sort((a, b) => semver.rcompare(a.version, b.version))[0];
}

/** Resolves a requested version (or latest) to one that may be newly installed or upgraded to. */
export function selectInstallableVersion(state: ProviderState, provider: ProviderId, requested: string | null | undefined): VersionState {
  if (state.status !== 'listed') {
    throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} does not exist in the store.`);
  }
  if (requested === null || requested === undefined) {
    const latest = latestVersion(state);
    if (!latest) throw notFound('version_not_found', `${canonicalOf(provider)} has no published version to install.`);
    return latest;
  }
  const version = state.versions[requested];
  if (!version) throw notFound('version_not_found', `${canonicalOf(provider)} has no version ${requested}.`);
  if (version.status === 'yanked') {
    throw invalid('version_yanked', `${canonicalOf(provider)} ${requested} was yanked and cannot be installed; choose another version.`);
  }
  if (version.status !== 'published') {
    const why = version.status === 'failed' ? `its wheel failed validation${version.error_message ? `: ${version.error_message}` : ''}` : 'its wheel is still being validated';
    throw conflict('version_not_ready', `${canonicalOf(provider)} ${requested} is ${version.status} (${why}); only published versions can be installed.`);
  }
  return version;
}

/** A command's result on one version: the stream's outcome and that version as it now stands. */
export interface VersionOutcome {
  outcome: CommandOutcome<ProviderState>;
  version: VersionState;
}

/** The version a publish or yank just wrote (or replayed); the decider guarantees it exists. */
export function versionOutcome(outcome: CommandOutcome<ProviderState>, provider: ProviderId, version: string): VersionOutcome {
  const state = outcome.state;
  const found = state.status === 'unknown' ? undefined : state.versions[version];
  if (!found) throw notFound('version_not_found', `${canonicalOf(provider)} has no version ${version}.`);
  return { outcome, version: found };
}
