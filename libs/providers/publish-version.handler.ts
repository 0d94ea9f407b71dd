import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { DomainError } from '../domain/domain-error';
import { Infrastructure } from '../infrastructure/infrastructure';
import { canonicalWheelUrl } from '../wheels/wheel-url';
import { isOciImageReference } from './oci-image-reference';
import { WheelFetcher } from '../wheels/wheel-fetcher';
import { PublishVersion, Publisher } from './provider.commands';
import { assertPublisher, providerDecider } from './provider.decider';
import { providerStream } from './provider-identity';
import { VersionOutcome, versionOutcome } from './version-selection';
import { assertValidConfigSchema } from '../installations/config-schema';

/** What a publisher sends; the platform adds the runtime version and the time. */
export type VersionToPublish = Omit<PublishVersion, 'type' | 'publisher' | 'runtimeVersion' | 'now'>;

export class PublishVersionCommand extends Command<VersionOutcome> {
  constructor(
    readonly version: VersionToPublish,
    readonly publisher: Publisher,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** With a sha256, the wheel is downloaded and checked before anything is stored. */
@CommandHandler(PublishVersionCommand)
export class PublishVersionHandler implements ICommandHandler<PublishVersionCommand, VersionOutcome> {
  private readonly fetcher: WheelFetcher;

  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {
    this.fetcher = new WheelFetcher(infrastructure.config.wheelFetch);
  }

  async execute({ version, publisher, context }: PublishVersionCommand): Promise<VersionOutcome> {
    // Refuse a foreign prefix before spending a download on it; the decider holds the same rule.
    assertPublisher(publisher, version.provider);
    const wheelUrl = canonicalWheelUrl(version.wheelUrl);
    if (!wheelUrl) {
      throw new DomainError('invalid', 'invalid_wheel_url', 'wheel_url must be an https URL whose path ends in .whl.', [
        { field: 'wheel_url', constraint: 'httpsWheelUrl', message: 'must be https and end in .whl', value_type: 'string' },
      ]);
    }
    if (version.runtimeImage && !isOciImageReference(version.runtimeImage)) {
      throw new DomainError('invalid', 'invalid_runtime_image', 'runtime_image must be an OCI image reference such as ghcr.io/acme/runtime:1.2.3 (registry/repository[:tag][@sha256:digest]).', [
        { field: 'runtime_image', constraint: 'ociImageReference', message: 'must be [registry[:port]/]repository[:tag][@sha256:<64 hex>]', value_type: 'string' },
      ]);
    }
    assertValidConfigSchema(version.configSchema);
    if (version.wheelSha256) await this.verify(wheelUrl, version.wheelSha256);
    const outcome = await runCommand(
      this.infrastructure.aggregates,
      providerDecider,
      providerStream(version.provider),
      { type: 'PublishVersion', ...version, wheelUrl, publisher, runtimeVersion: this.infrastructure.config.runtimeVersion, now: context.now },
      context,
    );
    return versionOutcome(outcome, version.provider, version.version);
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
