import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { Reconfigure } from './installation.commands';
import { InstallationResult, TenantInstallation, runTenantInstallationCommand } from './tenant-installation-command';

/** Absent fields stay as they are. */
export type InstallationChanges = Pick<Reconfigure, 'config' | 'resourceTier' | 'upgradePolicy'>;

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

  execute({ target, changes, context }: ReconfigureInstallationCommand): Promise<InstallationResult> {
    return runTenantInstallationCommand(this.infrastructure, target, context, () => ({ type: 'Reconfigure', ...changes, now: context.now }));
  }
}
