import { Readable } from 'node:stream';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { CommandContext, runCommand } from '../application/command-runner';
import { INFRASTRUCTURE } from '../application/infrastructure-token';
import { loadState } from '../application/aggregates';
import { artifactUrl } from '../artifacts/artifact-url';
import { Infrastructure } from '../infrastructure/infrastructure';
import { PublishUploadedVersion, Publisher } from './provider.commands';
import { ProviderState, assertPublisher, providerDecider } from './provider.decider';
import { ProviderEvent } from './provider.events';
import { providerStream } from './provider-identity';
import { VersionToPublish } from './publish-version.handler';
import { VersionOutcome, versionOutcome } from './version-selection';

/** What a publisher sends with an upload: everything a URL publish has, bar the URL and digest. */
export type UploadToPublish = Omit<VersionToPublish, 'wheelUrl' | 'wheelSha256'>;

export interface UploadedWheel {
  filename: string;
  /** The file's bytes as they arrive: streamed into the artifact store, never held whole. */
  content: Readable;
}

export class PublishUploadCommand extends Command<VersionOutcome> {
  constructor(
    readonly version: UploadToPublish,
    readonly wheel: UploadedWheel,
    readonly publisher: Publisher,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** Where stored wheels are downloaded: the public URL when configured, else the API on this host. */
export function artifactBaseUrl(config: Infrastructure['config']): string {
  return config.publicUrl ?? `http://127.0.0.1:${config.port}`;
}

/**
 * Refuses what the decider would refuse before a byte is stored (foreign prefix, existing version),
 * then stores the wheel (capped at UPLOAD_MAX_BYTES: ArtifactTooLarge stores nothing) and only then
 * appends the version, `building`. A race that publishes the version in between still ends at the
 * decider (409); the stored bytes are then unreferenced and the collector takes them.
 */
@CommandHandler(PublishUploadCommand)
export class PublishUploadHandler implements ICommandHandler<PublishUploadCommand, VersionOutcome> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  async execute({ version, wheel, publisher, context }: PublishUploadCommand): Promise<VersionOutcome> {
    assertPublisher(publisher, version.provider);
    const stream = providerStream(version.provider);
    const { eventStore, artifacts, config } = this.infrastructure;
    const command = (sha256: string, size: number): PublishUploadedVersion => ({
      type: 'PublishUploadedVersion',
      ...version,
      publisher,
      wheelUrl: artifactUrl(artifactBaseUrl(config), sha256),
      wheelSha256: sha256,
      wheelFilename: wheel.filename,
      wheelSize: size,
      runtimeVersion: config.runtimeVersion,
      now: context.now,
    });
    // The decider's own verdict on the stream as it is now, with a placeholder digest: a duplicate
    // or a refused publish costs no upload.
    const { state } = await loadState<ProviderState, ProviderEvent>(this.infrastructure.aggregates, providerDecider, stream);
    providerDecider.decide(command('0'.repeat(64), 0), state);
    const stored = await artifacts.put(wheel.content, { maxBytes: config.artifacts.uploadMaxBytes });
    const outcome = await runCommand(eventStore, providerDecider, stream, command(stored.sha256, stored.size), context);
    return versionOutcome(outcome, version.provider, version.version);
  }
}
