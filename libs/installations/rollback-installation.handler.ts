import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { InstallationResult, TenantInstallation, runTenantInstallationCommand } from './tenant-installation-command';

/** The tenant's rollback: the decider picks the version (serving, or the one that served before). */
export class RollbackInstallationCommand extends Command<InstallationResult> {
  constructor(
    readonly target: TenantInstallation,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(RollbackInstallationCommand)
export class RollbackInstallationHandler implements ICommandHandler<RollbackInstallationCommand, InstallationResult> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  execute({ target, context }: RollbackInstallationCommand): Promise<InstallationResult> {
    return runTenantInstallationCommand(this.infrastructure, target, context, () => ({ type: 'Rollback', now: context.now }));
  }
}
