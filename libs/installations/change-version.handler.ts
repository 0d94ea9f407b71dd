import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { selectInstallableVersion } from '../providers/version-selection';
import { Direction } from './installation.events';
import { InstallationResult, TenantInstallation, runTenantInstallationCommand } from './tenant-installation-command';
import { installationSecretsOf } from '../secrets/installation-secrets';
import { TenantConfig } from './tenant-config';

/** Upgrade (`up`) or downgrade (`down`): one command, as in the decider; the direction picks the rule. */
export class ChangeVersionCommand extends Command<InstallationResult> {
  constructor(
    readonly target: TenantInstallation,
    readonly direction: Direction,
    /** null: the latest installable version. */
    readonly version: string | null,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(ChangeVersionCommand)
export class ChangeVersionHandler implements ICommandHandler<ChangeVersionCommand, InstallationResult> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ target, direction, version, context }: ChangeVersionCommand): Promise<InstallationResult> {
    const tenantConfig = new TenantConfig(await installationSecretsOf(this.infrastructure));
    return runTenantInstallationCommand(this.infrastructure, { ...target, versions: [version] }, context, async (provider, installation) => {
      const selected = selectInstallableVersion(provider, target.provider, version);
      // The decider's own refusals (same version, wrong direction, deleting) come first: they need no config.
      if (installation.status === 'present' && installation.lifecycle !== 'deleting' && selected.version !== installation.installedVersion) {
        await tenantConfig.checkVersionChange(installation, target.provider, selected);
      }
      return { type: 'ChangeVersion', direction, targetVersion: selected.version, reason: 'manual', targetYanked: selected.status === 'yanked', now: context.now };
    });
  }
}
