import { CommandContext, CommandOutcome, runCommand } from '../application/command-runner';
import { stateOf } from '../application/stream-state';
import { Infrastructure } from '../infrastructure/infrastructure';
import { ProviderState, VersionState, providerDecider } from '../providers/provider.decider';
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
 * Builds the domain command from the provider's state and the installation's (present unless
 * installing). May be async: config is validated and its secrets sealed before the command exists.
 */
export type CommandFor = (provider: ProviderState, installation: InstallationState) => InstallationCommand | Promise<InstallationCommand>;

/**
 * The tenant's installation commands share this path: the provider's and the installation's streams
 * are read together (one round trip), the command is built against the provider's own stream (no read
 * model on the command side), and the answer comes from the installation's state after the append.
 * "Not installed" answers before any other error (an unknown version, say) when the command needs an
 * installation.
 */
export async function runTenantInstallationCommand(
  infrastructure: Pick<Infrastructure, 'eventStore'>,
  target: TenantInstallation,
  context: CommandContext,
  commandFor: CommandFor,
  needsInstallation = true,
): Promise<InstallationResult> {
  const streamName = installationStream(target.tenant, target.provider);
  const [providerEvents, installationEvents] = await infrastructure.eventStore.readStreams([providerStream(target.provider), streamName]);
  const providerState = stateOf(providerDecider, providerEvents).state;
  const installation = stateOf(installationDecider, installationEvents).state;
  if (needsInstallation && installation.status !== 'present') throw notInstalled(target.provider);
  const command = await commandFor(providerState, installation);
  const outcome = await runCommand(infrastructure.eventStore, installationDecider, streamName, command, context, installationEvents);
  if (outcome.state.status !== 'present') throw notInstalled(target.provider);
  const version = providerState.status === 'unknown' ? undefined : providerState.versions[outcome.state.installedVersion];
  return { outcome, installation: outcome.state, latestVersion: latestVersion(providerState)?.version ?? null, version };
}
