import { CommandContext, CommandOutcome, runCommand } from '../application/command-runner';
import { loadCurrent } from '../application/aggregates';
import { DomainError } from '../domain/domain-error';
import { LoadedAggregate } from '../application/snapshot-loader';
import { Infrastructure } from '../infrastructure/infrastructure';
import { ProviderState, VersionState } from '../providers/provider.decider';
import { ProviderId, providerStream } from '../providers/provider-identity';
import { latestVersion } from '../providers/version-selection';
import { InstallationCommand } from './installation.commands';
import { InstallationState, PresentInstallation, installationDecider } from './installation.decider';
import { installationStream } from './installation-identity';
import { notInstalled } from './not-installed';

/** One of a tenant's installations, named as the tenant names it. */
export interface TenantInstallation {
  tenant: string;
  provider: ProviderId;
}

export interface InstallationResult {
  outcome: CommandOutcome<InstallationState>;
  installation: PresentInstallation;
  /** The provider's latest installable version, for `upgrade_available`. */
  latestVersion: string | null;
  /** The installed version as the provider's stream holds it: its runtime, for a deploy's answer. */
  version?: VersionState;
}

/**
 * Builds the domain command from the provider's facts (at least the versions the command names, the
 * installed one and the latest installable) and the installation's state (present unless installing).
 * May be async: config is validated and its secrets sealed before the command exists.
 */
export type CommandFor = (provider: ProviderState, installation: InstallationState) => InstallationCommand | Promise<InstallationCommand>;

/** What the tenant's command is about: its installation, and the versions it names (none, or the one asked for). */
export interface InstallationCommandTarget extends TenantInstallation {
  versions?: ReadonlyArray<string | null | undefined>;
}

const versionsOf = (provider: ProviderState): Readonly<Record<string, VersionState>> => (provider.status === 'unknown' ? {} : provider.versions);

/** What the tenant's installation commands need of the process: the log, the provider's facts and the installations it wrote lately. */
export type TenantCommandInfrastructure = Pick<Infrastructure, 'aggregates' | 'providerFacts' | 'recentInstallations'>;

/**
 * The tenant's installation commands share this path: the installation is loaded from its snapshot
 * while the provider's facts are read (at once), the command is built against them (the provider's
 * own stream or the read models written in its append's transaction), and the answer comes from the
 * installation's state after the append. "Not installed" answers before any other error (an unknown
 * version, say) when the command needs an installation.
 *
 * An installation this process wrote lately is not loaded again: the command is decided on the state
 * its last command left (`recentInstallations`). Only an append proves that state was current (the
 * store checks the revision), so any other end (a refusal, a conflict, nothing to do) is decided
 * again from a fresh load, and that answer is the one given.
 */
export async function runTenantInstallationCommand(
  infrastructure: TenantCommandInfrastructure,
  target: InstallationCommandTarget,
  context: CommandContext,
  commandFor: CommandFor,
  needsInstallation = true,
): Promise<InstallationResult> {
  const streamName = installationStream(target.tenant, target.provider);
  const recent = infrastructure.recentInstallations.get(streamName);
  let decided: Decided | undefined;
  if (recent) {
    // A refusal (the decider's, the config's, or the store's: a stale revision) wrote nothing and may
    // come from the stale state; any other error (the database gone mid-append) may follow a commit,
    // and deciding again could do the command twice, so it is the answer.
    decided = await decideAndAppend(infrastructure, target, context, commandFor, needsInstallation, recent).catch((error: unknown) => {
      if (error instanceof DomainError) return undefined;
      throw error;
    });
    if (!decided || (decided.outcome.appended === 0 && !decided.outcome.replayed)) {
      infrastructure.recentInstallations.forget(streamName);
      decided = undefined;
    }
  }
  decided ??= await decideAndAppend(infrastructure, target, context, commandFor, needsInstallation);
  const { outcome, provider } = decided;
  if (outcome.aggregate) infrastructure.recentInstallations.remember(streamName, outcome.aggregate);
  if (outcome.state.status !== 'present') throw notInstalled(target.provider);
  const now = outcome.state.installedVersion;
  // A rollback or a replay may land on a version the command did not name.
  const withResult = provider.status === 'unknown' || versionsOf(provider)[now] ? provider : await infrastructure.providerFacts.load(target.provider, [now]);
  return { outcome, installation: outcome.state, latestVersion: latestVersion(provider)?.version ?? null, version: versionsOf(withResult)[now] };
}

interface Decided {
  outcome: CommandOutcome<InstallationState>;
  /** The provider's facts the command was built against. */
  provider: ProviderState;
}

/** Builds the command against the installation (`recent`, else loaded) and the provider's facts, and runs it. */
async function decideAndAppend(
  infrastructure: TenantCommandInfrastructure,
  target: InstallationCommandTarget,
  context: CommandContext,
  commandFor: CommandFor,
  needsInstallation: boolean,
  recent?: LoadedAggregate<InstallationState>,
): Promise<Decided> {
  const streamName = installationStream(target.tenant, target.provider);
  const named = target.versions ?? [];
  // Decided on what this process remembers, the provider's facts may be remembered too: the append
  // then requires the provider's stream where they were read, as it requires the installation's.
  const [loaded, remembered] = await Promise.all([
    recent ?? loadCurrent(infrastructure.aggregates, installationDecider, streamName),
    infrastructure.providerFacts.loadForCommand(target.provider, named, target.tenant, { remembered: recent !== undefined }),
  ]);
  const facts = remembered.state;
  const unchanged = recent && remembered.revision !== undefined ? [{ streamName: providerStream(target.provider), revision: remembered.revision }] : [];
  const installation = loaded.state;
  if (needsInstallation && installation.status !== 'present') throw notInstalled(target.provider);
  const installed = installation.status === 'present' ? installation.installedVersion : undefined;
  const provider = facts.status !== 'unknown' && installed && !versionsOf(facts)[installed] ? await infrastructure.providerFacts.load(target.provider, [...named, installed]) : facts;
  const command = await commandFor(provider, installation);
  return { outcome: await runCommand(infrastructure.aggregates, installationDecider, streamName, command, context, loaded, { unchanged }), provider };
}
