import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, CommandOutcome, runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { DomainError } from '../domain/domain-error';
import { Infrastructure } from '../infrastructure/infrastructure';
import { OrganizationState, organizationDecider, organizationStream } from './organization';

export interface OrganizationRequest {
  id: string;
  /** Null: the id is the name until someone gives one. */
  name: string | null;
  /** An existing organisation is left as it is instead of being a 409. */
  ifAbsent: boolean;
}

export class CreateOrganizationCommand extends Command<CommandOutcome<OrganizationState>> {
  constructor(
    readonly request: OrganizationRequest,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(CreateOrganizationCommand)
export class CreateOrganizationHandler implements ICommandHandler<CreateOrganizationCommand, CommandOutcome<OrganizationState>> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'eventStore' | 'aggregates'>) {}

  async execute({ request, context }: CreateOrganizationCommand): Promise<CommandOutcome<OrganizationState>> {
    const create = () =>
      runCommand(
        this.infrastructure.aggregates,
        organizationDecider,
        organizationStream(request.id),
        { type: 'CreateOrganization', id: request.id, name: request.name, ifAbsent: request.ifAbsent, now: context.now },
        context,
      );
    try {
      return await create();
    } catch (error) {
      // Two "create if absent" racing for one new organisation: the loser finds it created, which is
      // all it asked for; read again rather than report a conflict nobody caused.
      if (request.ifAbsent && error instanceof DomainError && error.code === 'concurrent_modification') return create();
      throw error;
    }
  }
}
