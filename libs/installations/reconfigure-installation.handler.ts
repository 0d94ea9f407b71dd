import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { Reconfigure } from './installation.commands';
import { InstallationResult, TenantInstallation, runTenantInstallationCommand } from './tenant-installation-command';
import { installationSecretsOf } from '../secrets/installation-secrets';
import { TenantConfig } from './tenant-config';

/** Absent fields stay as they are; `secretConfig` is always secret (sealed before it enters the log). */
export type InstallationChanges = Pick<Reconfigure, 'config' | 'resourceTier' | 'upgradePolicy'> & { secretConfig?: Record<string, string> };

export class ReconfigureInstallationCommand extends Command<InstallationResult> {
  constructor(
    readonly target: TenantInstallation,
    readonly changes: InstallationChanges,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(ReconfigureInstallationCommand)
export class ReconfigureInstallationHandler implements ICommandHandler<ReconfigureInstallationCommand, InstallationResult> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ target, changes, context }: ReconfigureInstallationCommand): Promise<InstallationResult> {
    const secrets = await installationSecretsOf(this.infrastructure);
    const tenantConfig = new TenantConfig(secrets);
    const { config, secretConfig, ...rest } = changes;
    // The body may hold secrets: its hash enters the log keyed, never plain.
    const keyed = { ...context, requestHash: secrets.keyedRequestHash(context.requestHash) };
    return runTenantInstallationCommand(this.infrastructure, target, keyed, async (provider, installation): Promise<Reconfigure> => {
      if (installation.status !== 'present') return { type: 'Reconfigure', ...rest, config, now: context.now };
      // Checked against the installed version's schema; a version gone from the provider checks nothing.
      const version = provider.status === 'unknown' ? undefined : provider.versions[installation.installedVersion];
      const stored = await tenantConfig.forReconfigure(installation, target.provider, version, { config, secretConfig });
      return { type: 'Reconfigure', ...rest, ...(stored ? { config: stored.config, secretKeys: stored.secretKeys } : {}), now: context.now };
    });
  }
}
