import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, CommandOutcome, runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { OrganizationState, organizationDecider, organizationStream } from './organization';

export class RenameOrganizationCommand extends Command<CommandOutcome<OrganizationState>> {
  constructor(
    readonly id: string,
    readonly name: string,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** Renaming to the current name changes nothing and appends nothing. */
@CommandHandler(RenameOrganizationCommand)
export class RenameOrganizationHandler implements ICommandHandler<RenameOrganizationCommand, CommandOutcome<OrganizationState>> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'eventStore' | 'aggregates'>) {}

  execute({ id, name, context }: RenameOrganizationCommand): Promise<CommandOutcome<OrganizationState>> {
    return runCommand(this.infrastructure.aggregates, organizationDecider, organizationStream(id), { type: 'RenameOrganization', id, name, now: context.now }, context);
  }
}
