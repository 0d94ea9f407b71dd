import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { runCommand } from '../../libs/application/command-runner';
import { INTERNAL_SCOPE_PREFIX } from '../../libs/application/idempotency-scopes';
import { DomainError } from '../../libs/domain/domain-error';
import { LogConsumer } from '../../libs/event-store/consumers/log-consumer';
import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { Position } from '../../libs/event-store/position';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { BuildResult } from '../../libs/providers/provider.commands';
import { providerDecider } from '../../libs/providers/provider.decider';
import { ProviderVersionUploaded } from '../../libs/providers/provider.events';
import { providerStream } from '../../libs/providers/provider-identity';
import { inspectWheel } from '../../libs/wheels/wheel-inspection';

/** Internal scopes contain a `:`, which no tenant organisation id does: no tenant key can name this one. */
export const WHEEL_VALIDATION_SCOPE = `${INTERNAL_SCOPE_PREFIX}wheel-validation`;
const MAX_CONFLICT_RETRIES = 5;

type Upload = ProviderVersionUploaded['data'];

function isUpload(event: RecordedEvent): event is RecordedEvent<'ProviderVersionUploaded', Upload> {
  if (event.type !== 'ProviderVersionUploaded' || typeof event.data !== 'object' || event.data === null) return false;
  const data = event.data as Partial<Record<keyof Upload, unknown>>;
  return ['prefix', 'name', 'version', 'wheel_filename', 'wheel_sha256'].every((key) => typeof data[key as keyof Upload] === 'string');
}

/**
 * ProviderVersionUploaded → CompleteBuild: looks inside the stored wheel out of band (the upload has
 * already answered `building`) and records `published` or `failed` with the reason. At least once:
 * the verdict carries a key derived from the version in an internal scope, and the decider takes a
 * verdict only for a `building` version, so a redelivery appends nothing.
 */
export class WheelValidationProcessManager implements LogConsumer {
  readonly name = 'wheel-validation';
  readonly filter = { eventTypes: ['ProviderVersionUploaded'] };
  readonly batchSize = 10;

  constructor(
    private readonly infrastructure: Infrastructure,
    private readonly logger: Logger,
  ) {}

  loadCheckpoint(): Promise<Position | undefined> {
    return this.infrastructure.checkpoints.load(this.name);
  }

  async handle(events: RecordedEvent[]): Promise<void> {
    for (const event of events) {
      if (isUpload(event)) await this.record(event, await this.validate(event.data));
      await this.infrastructure.checkpoints.save(this.name, event.position);
    }
  }

  /** The verdict on one upload; only an outage (the store unreachable) throws, to be redelivered. */
  private async validate(upload: Upload): Promise<BuildResult> {
    const artifact = await this.infrastructure.artifacts.open(upload.wheel_sha256);
    if (!artifact) return { ok: false, errorMessage: 'the uploaded wheel is no longer stored; upload it again under a new version' };
    const dir = await mkdtemp(path.join(tmpdir(), 'wheel-validation-'));
    try {
      const file = path.join(dir, 'upload.whl');
      await pipeline(artifact.stream(), createWriteStream(file, { mode: 0o600 }));
      const inspection = await inspectWheel(file, upload.wheel_filename, upload.version);
      return inspection.ok ? { ok: true, packageName: inspection.packageName } : { ok: false, errorMessage: `The wheel is not valid: ${inspection.problem}.` };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async record(event: RecordedEvent<'ProviderVersionUploaded', Upload>, result: BuildResult): Promise<void> {
    const { prefix, name, version } = event.data;
    for (let attempt = 1; ; attempt++) {
      const now = new Date().toISOString();
      try {
        const outcome = await runCommand(
          this.infrastructure.aggregates,
          providerDecider,
          providerStream({ prefix, name }),
          { type: 'CompleteBuild', provider: { prefix, name }, version, result, now },
          {
            actor: `process-manager:${this.name}`,
            correlationId: event.metadata.correlation_id,
            causationId: event.id,
            idempotencyScope: WHEEL_VALIDATION_SCOPE,
            idempotencyKey: `build:${version}:${event.data.wheel_sha256}`,
            requestHash: null,
            now,
          },
        );
        if (outcome.appended > 0) this.logger.info({ provider: `${prefix}/${name}`, version, ok: result.ok, ...(result.ok ? {} : { problem: result.errorMessage }) }, 'wheel validated');
        return;
      } catch (error) {
        if (error instanceof DomainError && error.code === 'concurrent_modification' && attempt < MAX_CONFLICT_RETRIES) continue;
        throw error;
      }
    }
  }
}
