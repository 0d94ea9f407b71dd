import { randomUUID } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext } from '../application/command-runner';
import { DomainError } from '../domain/domain-error';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { notFound } from '../domain/domain-error';
import { ProviderState, isInstallableBy } from '../providers/provider.decider';
import { canonicalOf } from '../providers/provider-identity';
import { selectInstallableVersion } from '../providers/version-selection';
import { InstallProvider } from './installation.commands';
import { ResourceTier, UpgradePolicy } from './installation.events';
import { InstallationResult, TenantInstallation, runTenantInstallationCommand } from './tenant-installation-command';
import { installationSecretsOf } from '../secrets/installation-secrets';
import { TenantConfig } from './tenant-config';

export class InstallProviderCommand extends Command<InstallationResult> {
  constructor(
    readonly target: TenantInstallation,
    /** null: the latest installable version. */
    readonly version: string | null,
    readonly resourceTier: ResourceTier,
    readonly upgradePolicy: UpgradePolicy,
    readonly config: Record<string, string>,
    readonly context: CommandContext,
    /** Always secret: sealed before it enters the log. */
    readonly secretConfig: Record<string, string> = {},
  ) {
    super();
  }
}

@CommandHandler(InstallProviderCommand)
export class InstallProviderHandler implements ICommandHandler<InstallProviderCommand, InstallationResult> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ target, version, resourceTier, upgradePolicy, config, secretConfig, context }: InstallProviderCommand): Promise<InstallationResult> {
    const secrets = await installationSecretsOf(this.infrastructure);
    const installationId = randomUUID();
    const commandFor = async (provider: ProviderState): Promise<InstallProvider> => {
      // Another organisation's private provider is reported as missing: its existence does not leak.
      if (provider.status === 'listed' && !isInstallableBy(provider, target.tenant)) {
        throw notFound('provider_not_found', `Provider ${canonicalOf(target.provider)} does not exist in the store.`);
      }
      const selected = selectInstallableVersion(provider, target.provider, version);
      const stored = await new TenantConfig(secrets).forInstall(installationId, target.provider, selected, { config, secretConfig });
      return {
        type: 'InstallProvider',
        installationId,
        tenant: target.tenant,
        prefix: target.provider.prefix,
        name: target.provider.name,
        version: selected.version,
        resourceTier,
        upgradePolicy,
        config: stored.config,
        secretKeys: stored.secretKeys,
        now: context.now,
      };
    };
    try {
      // The body may hold secrets: its hash enters the log keyed, never plain.
      const keyed = { ...context, requestHash: secrets.keyedRequestHash(context.requestHash) };
      const result = await runTenantInstallationCommand(this.infrastructure, { ...target, versions: [version] }, keyed, commandFor, false);
      // A replayed retry answers with the first attempt's installation: the key made for this id seals nothing.
      if (result.installation.installationId !== installationId) await secrets.shred(installationId);
      return result;
    } catch (error) {
      // Refused: the id was new, so a data key made for it seals nothing in the log. (After another
      // error the append may have happened, and the key must stay.)
      if (error instanceof DomainError) await secrets.shred(installationId);
      throw error;
    }
  }
}
