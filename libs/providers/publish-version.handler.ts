import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, CommandOutcome, runCommand } from '../application/command-runner';
import { DomainError, forbidden } from '../domain/domain-error';
import { ProviderState, mayPublishUnder, providerDecider } from './provider.decider';
import { ResourceSchema } from './provider.events';
import { PLATFORM_PREFIX, ProviderId, TOKEN_PATTERN, providerStream } from './provider-identity';
import { Infrastructure } from '../infrastructure/infrastructure';
import { canonicalWheelUrl } from '../wheels/wheel-url';
import { WheelFetcher } from '../wheels/wheel-fetcher';
import { Principal } from '../../apps/api/auth/principal';
import { INFRASTRUCTURE } from '../../apps/api/platform/tokens';
import { PublishVersionDto } from '../../apps/api/provider-versions/publish-version.dto';

export class PublishVersionCommand {
  constructor(
    readonly body: PublishVersionDto,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

export interface PublishOutcome {
  provider: ProviderId;
  outcome: CommandOutcome<ProviderState>;
}

/** `org/name`, `platform/name`, or a legacy short name with `organization_id`. */
export function resolveProviderName(name: string, organizationId: string | null | undefined): ProviderId {
  const parts = name.split('/');
  const id = parts.length === 2 ? { prefix: parts[0], name: parts[1] } : parts.length === 1 && organizationId ? { prefix: organizationId, name } : undefined;
  if (!id || !TOKEN_PATTERN.test(id.prefix) || !TOKEN_PATTERN.test(id.name)) {
    throw new DomainError('invalid', 'invalid_provider_name', `"${name}" is not a provider name: send "org/name" (lower-case letters, digits, dashes), or a short name together with organization_id.`, [
      { field: 'name', constraint: 'providerName', message: 'must be org/name or a short name with organization_id', value_type: 'string' },
    ]);
  }
  return id;
}

function schemaList(map: Record<string, Record<string, unknown>> | null | undefined): ResourceSchema[] {
  return Object.entries(map ?? {}).map(([resource_type, schema]) => ({ resource_type, schema }));
}

@CommandHandler(PublishVersionCommand)
export class PublishVersionHandler implements ICommandHandler<PublishVersionCommand, PublishOutcome> {
  private readonly fetcher: WheelFetcher;

  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {
    this.fetcher = new WheelFetcher(infrastructure.config.wheelFetch);
  }

  async execute({ body, principal, context }: PublishVersionCommand): Promise<PublishOutcome> {
    const provider = resolveProviderName(body.name, body.organization_id);
    const publisher = { organizationId: principal.organizationId, platformAdmin: principal.platformAdmin };
    // Refuse a foreign prefix before spending a download on it; the decider holds the same rule.
    if (!mayPublishUnder(publisher, provider.prefix)) {
      throw provider.prefix === PLATFORM_PREFIX
        ? forbidden('platform_admin_required', 'Publishing under "platform/" needs a platform-admin API key.')
        : forbidden('prefix_not_owned', `Organisation "${principal.organizationId}" may publish only under "${principal.organizationId}/".`);
    }
    const wheelUrl = canonicalWheelUrl(body.wheel_url);
    if (!wheelUrl) {
      throw new DomainError('invalid', 'invalid_wheel_url', 'wheel_url must be an https URL whose path ends in .whl.', [
        { field: 'wheel_url', constraint: 'httpsWheelUrl', message: 'must be https and end in .whl', value_type: 'string' },
      ]);
    }
    const sha256 = body.sha256 ?? null;
    if (sha256) await this.verify(wheelUrl, sha256);

    const outcome = await runCommand(
      this.infrastructure.eventStore,
      providerDecider,
      providerStream(provider),
      {
        type: 'PublishVersion',
        provider,
        publisher,
        version: body.version,
        runtimeVersion: this.infrastructure.config.runtimeVersion,
        wheelUrl,
        wheelSha256: sha256,
        packageName: body.package_name ?? null,
        entrypoint: body.entrypoint ?? null,
        schemas: schemaList(body.schemas ?? body.resource_schemas),
        configSchema: body.config_schema ?? null,
        outputsSchema: body.outputs_schema ?? null,
        changelog: body.changelog ?? null,
        metadata: body.metadata ? { ...body.metadata } : null,
        now: context.now,
      },
      context,
    );
    return { provider, outcome };
  }

  private async verify(url: string, expected: string): Promise<void> {
    const result = await this.fetcher.digest(url);
    if (!result.ok) {
      throw new DomainError('invalid', 'wheel_unreachable', `The wheel could not be downloaded from ${url}: ${result.reason}.`);
    }
    if (result.sha256 !== expected) {
      throw new DomainError('invalid', 'sha256_mismatch', `The wheel's SHA-256 is ${result.sha256}, not the ${expected} that was sent; nothing was published.`);
    }
  }
}
