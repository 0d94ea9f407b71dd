import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { RecordedEvent } from '../../../libs/event-store/event-store.port';
import { CommandContext, CommandOutcome, runCommand } from '../../../libs/application/command-runner';
import { InstallationCommand } from '../../../libs/installations/installation.commands';
import { InstallationState, PresentInstallation, installationDecider } from '../../../libs/installations/installation.decider';
import { installationStream } from '../../../libs/installations/installation-identity';
import { ProviderState, providerDecider } from '../../../libs/providers/provider.decider';
import { ProviderId, canonicalOf, parseCanonical, providerStream } from '../../../libs/providers/provider-identity';
import { latestVersion, selectInstallableVersion } from '../../../libs/providers/version-selection';
import { notFound } from '../../../libs/domain/domain-error';
import { loadState, stateOf } from '../../../libs/application/stream-state';
import { Infrastructure } from '../../../libs/infrastructure/infrastructure';
import { Principal } from '../auth/principal';
import { INFRASTRUCTURE } from '../platform/tokens';
import { InstallProviderDto, InstalledProviderResponse, UpdateInstallationDto } from './installation.dto';
import { installedFromState } from './installed-provider.mapping';

export interface InstallationCommandResult {
  outcome: CommandOutcome<InstallationState>;
  body: InstalledProviderResponse;
}

/**
 * The tenant's commands on installations. The target version is checked against the provider's own
 * stream and the answer built from the installation stream after the append: no read model is
 * consulted on the command side.
 */
@Injectable()
export class InstallationsService {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async install(body: InstallProviderDto, principal: Principal, context: CommandContext): Promise<InstallationCommandResult> {
    const provider = parseCanonical(body.provider_name);
    const { providerState, installationEvents } = await this.readBoth(provider, principal);
    const version = selectInstallableVersion(providerState, provider, body.version);
    return this.run(provider, principal, context, providerState, installationEvents, {
      type: 'InstallProvider',
      installationId: randomUUID(),
      tenant: principal.organizationId,
      prefix: provider.prefix,
      name: provider.name,
      version: version.version,
      resourceTier: body.resource_tier ?? 'standard',
      upgradePolicy: body.upgrade_policy ?? 'manual',
      config: body.config ?? {},
      now: context.now,
    });
  }

  /**
   * Upgrade or downgrade. "Not installed" answers before any other error, as if checked first; it
   * is checked (one more read of the installation stream) only when something failed, since the
   * command itself reads that stream and fails on an absent installation anyway.
   */
  async changeVersion(provider: ProviderId, direction: 'up' | 'down', requested: string | null, principal: Principal, context: CommandContext) {
    const { providerState, installationEvents } = await this.readBoth(provider, principal);
    try {
      const target = selectInstallableVersion(providerState, provider, requested);
      return await this.run(provider, principal, context, providerState, installationEvents, {
        type: 'ChangeVersion',
        direction,
        targetVersion: target.version,
        reason: 'manual',
        now: context.now,
      });
    } catch (error) {
      await this.requireInstalled(provider, principal);
      throw error;
    }
  }

  async redeploy(provider: ProviderId, requested: string | null, principal: Principal, context: CommandContext) {
    const { providerState, installationEvents } = await this.readBoth(provider, principal);
    const installed = presentOrNotFound(stateOf(installationDecider, installationEvents).state, provider);
    const version = requested ? selectInstallableVersion(providerState, provider, requested).version : installed.installedVersion;
    return this.run(provider, principal, context, providerState, installationEvents, { type: 'Redeploy', version, now: context.now });
  }

  async reconfigure(provider: ProviderId, body: UpdateInstallationDto, principal: Principal, context: CommandContext) {
    const { providerState, installationEvents } = await this.readBoth(provider, principal);
    return this.run(provider, principal, context, providerState, installationEvents, {
      type: 'Reconfigure',
      config: body.config,
      resourceTier: body.resource_tier,
      upgradePolicy: body.upgrade_policy,
      now: context.now,
    });
  }

  async uninstall(provider: ProviderId, principal: Principal, context: CommandContext) {
    const { providerState, installationEvents } = await this.readBoth(provider, principal);
    return this.run(provider, principal, context, providerState, installationEvents, { type: 'Uninstall', now: context.now });
  }

  /** The installation as its stream says, optionally as it was at an instant (time travel). */
  async stateAt(provider: ProviderId, principal: Principal, asOf?: Date): Promise<{ state: PresentInstallation; revision: number; latest: string | null }> {
    const { state, revision } = await loadState(this.infrastructure.eventStore, installationDecider, installationStream(principal.organizationId, provider), asOf);
    if (state.status !== 'present') {
      throw notFound('not_installed', asOf ? `${canonicalOf(provider)} was not installed at ${asOf.toISOString()}.` : `${canonicalOf(provider)} is not installed.`);
    }
    const latest = latestVersion(await this.providerState(provider))?.version ?? null;
    return { state, revision, latest };
  }

  private async requireInstalled(provider: ProviderId, principal: Principal): Promise<PresentInstallation> {
    const { state } = await loadState(this.infrastructure.eventStore, installationDecider, installationStream(principal.organizationId, provider));
    return presentOrNotFound(state, provider);
  }

  async providerState(provider: ProviderId, asOf?: Date): Promise<ProviderState> {
    return (await loadState(this.infrastructure.eventStore, providerDecider, providerStream(provider), asOf)).state;
  }

  /** The provider's state and the installation's events, in one read of the store. */
  private async readBoth(provider: ProviderId, principal: Principal): Promise<{ providerState: ProviderState; installationEvents: RecordedEvent[] }> {
    const [providerEvents, installationEvents] = await this.infrastructure.eventStore.readStreams([
      providerStream(provider),
      installationStream(principal.organizationId, provider),
    ]);
    return { providerState: stateOf(providerDecider, providerEvents).state, installationEvents };
  }

  private async run(
    provider: ProviderId,
    principal: Principal,
    context: CommandContext,
    providerState: ProviderState,
    installationEvents: RecordedEvent[],
    command: InstallationCommand,
  ): Promise<InstallationCommandResult> {
    const outcome = await runCommand(
      this.infrastructure.eventStore,
      installationDecider,
      installationStream(principal.organizationId, provider),
      command,
      context,
      installationEvents,
    );
    if (outcome.state.status !== 'present') {
      throw notFound('not_installed', `${canonicalOf(provider)} is not installed.`);
    }
    return { outcome, body: installedFromState(outcome.state, latestVersion(providerState)?.version ?? null) };
  }
}

function presentOrNotFound(state: InstallationState, provider: ProviderId): PresentInstallation {
  if (state.status !== 'present') throw notFound('not_installed', `${canonicalOf(provider)} is not installed.`);
  return state;
}
