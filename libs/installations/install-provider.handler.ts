import { randomUUID } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { notFound } from '../domain/domain-error';
import { ProviderState, isInstallableBy } from '../providers/provider.decider';
import { canonicalOf } from '../providers/provider-identity';
import { selectInstallableVersion } from '../providers/version-selection';
import { InstallProvider } from './installation.commands';
import { ResourceTier, UpgradePolicy } from './installation.events';
import { InstallationResult, TenantInstallation, runTenantInstallationCommand } from './tenant-installation-command';

export class InstallProviderCommand extends Command<InstallationResult> {
  constructor(
    readonly target: TenantInstallation,
    /** null: the latest installable version. */
    readonly version: string | null,
    readonly resourceTier: ResourceTier,
    readonly upgradePolicy: UpgradePolicy,
    readonly config: Record<string, string>,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(InstallProviderCommand)
export class InstallProviderHandler implements ICommandHandler<InstallProviderCommand, InstallationResult> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  execute({ target, version, resourceTier, upgradePolicy, config, context }: InstallProviderCommand): Promise<InstallationResult> {
    const commandFor = (provider: ProviderState): InstallProvider => {
      // Another organisation's private provider is reported as missing: its existence does not leak.
      if (provider.status === 'listed' && !isInstallableBy(provider, target.tenant)) {
        throw notFound('provider_not_found', `Provider ${canonicalOf(target.provider)} does not exist in the store.`);
      }
      return {
        type: 'InstallProvider',
        installationId: randomUUID(),
        tenant: target.tenant,
        prefix: target.provider.prefix,
        name: target.provider.name,
        version: selectInstallableVersion(provider, target.provider, version).version,
        resourceTier,
        upgradePolicy,
        config,
        now: context.now,
      };
    };
    return runTenantInstallationCommand(this.infrastructure, target, context, commandFor, false);
  }
}
