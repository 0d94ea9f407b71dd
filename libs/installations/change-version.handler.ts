import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { selectInstallableVersion } from '../providers/version-selection';
import { Direction } from './installation.events';
import { InstallationResult, TenantInstallation, runTenantInstallationCommand } from './tenant-installation-command';

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

  execute({ target, direction, version, context }: ChangeVersionCommand): Promise<InstallationResult> {
    return runTenantInstallationCommand(this.infrastructure, target, context, (provider) => {
      const selected = selectInstallableVersion(provider, target.provider, version);
      return { type: 'ChangeVersion', direction, targetVersion: selected.version, reason: 'manual', targetYanked: selected.status === 'yanked', now: context.now };
    });
  }
}
