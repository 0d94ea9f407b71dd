import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { InstallationResult, TenantInstallation, runTenantInstallationCommand } from './tenant-installation-command';

export class UninstallProviderCommand extends Command<InstallationResult> {
  constructor(
    readonly target: TenantInstallation,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(UninstallProviderCommand)
export class UninstallProviderHandler implements ICommandHandler<UninstallProviderCommand, InstallationResult> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  execute({ target, context }: UninstallProviderCommand): Promise<InstallationResult> {
    return runTenantInstallationCommand(this.infrastructure, target, context, () => ({ type: 'Uninstall', now: context.now }));
  }
}
