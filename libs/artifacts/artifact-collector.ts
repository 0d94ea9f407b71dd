import { tryAdvisoryLock } from '../database/advisory-lock';
import { ConsumerRunner } from '../event-store/consumers/consumer-runner';
import { isCaughtUp } from '../event-store/consumers/caught-up';
import { LogConsumer } from '../event-store/consumers/log-consumer';
import { RecordedEvent } from '../event-store/event-store.port';
import { Position } from '../event-store/position';
import { Infrastructure } from '../infrastructure/infrastructure';
import { catalogProjection } from '../../projections/catalog.projection';
import { CollectionReport, collectUnreferenced } from './collect-unreferenced';
import { referencedDigests } from './referenced-digests';

const SWEEP_LOCK = 'artifact-collector:sweep';
const CATCH_UP_WAIT_MS = 30_000;

type CollectorInfrastructure = Pick<Infrastructure, 'pool' | 'eventStore' | 'checkpoints' | 'artifacts' | 'config' | 'logger'>;

/**
 * Removes stored wheels no provider version references any more (see `referencedDigests`), once
 * they are older than ARTIFACT_GC_GRACE_MS: right after a provider is deleted (it follows
 * ProviderDeleted in the log) and at every ARTIFACT_GC_INTERVAL_MS, which also catches what a
 * crash left behind. One sweep at a time across replicas (an advisory lock).
 */
export class ArtifactCollector implements LogConsumer {
  readonly name = 'artifact-collector';
  readonly filter = { eventTypes: ['ProviderDeleted'] };
  readonly batchSize = 100;
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(private readonly infrastructure: CollectorInfrastructure) {}

  startSweeping(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .catch((error: unknown) => this.infrastructure.logger.warn({ err: String(error) }, 'artifact collection failed'))
        .finally(() => (this.running = undefined));
    }, this.infrastructure.config.artifacts.gcIntervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  loadCheckpoint(): Promise<Position | undefined> {
    return this.infrastructure.checkpoints.load(this.name);
  }

  /** A batch of deletions is one sweep, once the catalog has seen them (it is what says "deleted"). */
  async handle(events: RecordedEvent[]): Promise<void> {
    const last = events[events.length - 1];
    if (!last) return;
    await this.waitForCatalog(last.position);
    await this.sweep();
    await this.infrastructure.checkpoints.save(this.name, last.position);
  }

  /** One collection, unless another replica is collecting (then undefined). */
  async sweep(now = new Date()): Promise<CollectionReport | undefined> {
    const lock = await tryAdvisoryLock(this.infrastructure.pool, SWEEP_LOCK);
    if (!lock) return undefined;
    try {
      const referenced = await referencedDigests(this.infrastructure.pool);
      const report = await collectUnreferenced(this.infrastructure.artifacts, referenced, { graceMs: this.infrastructure.config.artifacts.gcGraceMs, now });
      if (report.deleted.length > 0 || report.abandoned > 0) {
        this.infrastructure.logger.info({ deleted: report.deleted, abandoned: report.abandoned }, 'unreferenced artifacts collected');
      }
      return report;
    } finally {
      await lock.release();
    }
  }

  private async waitForCatalog(position: Position): Promise<void> {
    const deadline = Date.now() + CATCH_UP_WAIT_MS;
    for (;;) {
      const checkpoint = await this.infrastructure.checkpoints.load(catalogProjection.name);
      if (await isCaughtUp(this.infrastructure.eventStore, checkpoint, position, catalogProjection.eventTypes)) return;
      if (Date.now() > deadline) throw new Error('catalog read model is not catching up; artifact collection will retry');
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** The collector on the log (one active replica) and on its timer; what the process stops on exit. */
export function startArtifactCollection(infrastructure: Infrastructure): Array<{ stop(): Promise<void> }> {
  const collector = new ArtifactCollector(infrastructure);
  const runner = new ConsumerRunner(infrastructure.pool, infrastructure.eventStore, collector, infrastructure.logger);
  runner.start();
  collector.startSweeping();
  return [runner, collector];
}
