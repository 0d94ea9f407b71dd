import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { Infrastructure } from '../infrastructure/infrastructure';
import { ApiKeyScope, apiKeyDecider, apiKeyStream } from './api-key';
import { IssuedKey, issueApiKey } from './api-key-secret';

export interface ApiKeyRequest {
  org: string;
  scopes: ApiKeyScope[];
  platformAdmin: boolean;
  label: string | null;
}

export class CreateApiKeyCommand extends Command<IssuedKey> {
  constructor(
    readonly request: ApiKeyRequest,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** Issues a key: the secret is returned this once; only its hash is stored. */
@CommandHandler(CreateApiKeyCommand)
export class CreateApiKeyHandler implements ICommandHandler<CreateApiKeyCommand, IssuedKey> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'eventStore' | 'aggregates'>) {}

  async execute({ request, context }: CreateApiKeyCommand): Promise<IssuedKey> {
    const issued = issueApiKey();
    await runCommand(
      this.infrastructure.aggregates,
      apiKeyDecider,
      apiKeyStream(issued.keyId),
      {
        type: 'CreateApiKey',
        key_id: issued.keyId,
        org: request.org,
        scopes: request.scopes,
        platform_admin: request.platformAdmin,
        secret_hash: issued.secretHash,
        label: request.label,
        created_by: context.actor,
        now: context.now,
      },
      context,
    );
    return issued;
  }
}
