import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { selectInstallableVersion } from '../providers/version-selection';
import { notInstalled } from './not-installed';
import { InstallationResult, TenantInstallation, runTenantInstallationCommand } from './tenant-installation-command';

export class RedeployInstallationCommand extends Command<InstallationResult> {
  constructor(
    readonly target: TenantInstallation,
    /** null: the installed version again. */
    readonly version: string | null,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(RedeployInstallationCommand)
export class RedeployInstallationHandler implements ICommandHandler<RedeployInstallationCommand, InstallationResult> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  execute({ target, version, context }: RedeployInstallationCommand): Promise<InstallationResult> {
    return runTenantInstallationCommand(this.infrastructure, { ...target, versions: [version] }, context, (provider, installation) => {
      if (installation.status !== 'present') throw notInstalled(target.provider);
      const redeployed = version ? selectInstallableVersion(provider, target.provider, version).version : installation.installedVersion;
      return { type: 'Redeploy', version: redeployed, now: context.now };
    });
  }
}
