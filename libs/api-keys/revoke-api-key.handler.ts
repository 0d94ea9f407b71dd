import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { apiKeyDecider, apiKeyStream } from './api-key';

export class RevokeApiKeyCommand extends Command<{ alreadyRevoked: boolean }> {
  constructor(
    readonly keyId: string,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** Revoking twice is not an error: the second time says so and changes nothing. */
@CommandHandler(RevokeApiKeyCommand)
export class RevokeApiKeyHandler implements ICommandHandler<RevokeApiKeyCommand, { alreadyRevoked: boolean }> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'eventStore' | 'aggregates'>) {}

  async execute({ keyId, context }: RevokeApiKeyCommand): Promise<{ alreadyRevoked: boolean }> {
    const outcome = await runCommand(
      this.infrastructure.aggregates,
      apiKeyDecider,
      apiKeyStream(keyId),
      { type: 'RevokeApiKey', keyId, now: context.now },
      context,
    );
    return { alreadyRevoked: outcome.appended === 0 };
  }
}
