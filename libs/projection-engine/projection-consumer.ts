import { Pool, PoolClient } from 'pg';
import { CheckpointStore, lockCheckpoint } from '../event-store/consumers/checkpoint-store';
import { LogConsumer } from '../event-store/consumers/log-consumer';
import { ReadPace, RecordedEvent } from '../event-store/event-store.port';
import { Position, comparePositions } from '../event-store/position';
import { applyBatch } from './row-projection-writer';
import { RowProjection } from './row-projection';

/**
 * Feeds a projection from the log: each batch's read-model changes and the checkpoint commit in one
 * transaction. The checkpoint row is locked first and events at or before it are dropped, so a
 * redelivered batch (a crash, a second replica, a rebuild that swapped tables) changes nothing twice.
 */
export class ProjectionConsumer implements LogConsumer {
  readonly name: string;
  readonly filter;
  readonly batchSize: number;

  constructor(
    private readonly pool: Pool,
    readonly projection: RowProjection,
    private readonly checkpoints: CheckpointStore,
    options: {
      consumerName?: string;
      tableName?: string;
      batchSize?: number;
      /**
       * The store writes this read model in each append's transaction: the consumer only moves the
       * checkpoint along (what readiness, the process managers and verify read), never applies twice.
       */
      appliedInline?: boolean;
      /** See `passOver` (default 2 s). */
      passOverEveryMs?: number;
    } = {},
  ) {
    this.appliedInline = options.appliedInline ?? false;
    // Written inline, the read model is current at every commit: its checkpoint only has to follow.
    this.pace = this.appliedInline ? { readEveryMs: INLINE_FOLLOW_EVERY_MS } : undefined;
    this.passOverEveryMs = options.passOverEveryMs ?? 2_000;
    this.name = options.consumerName ?? projection.name;
    this.tableName = options.tableName ?? projection.table.name;
    this.filter = { eventTypes: projection.eventTypes };
    this.batchSize = options.batchSize ?? 1000;
  }

  private readonly tableName: string;
  readonly pace?: ReadPace;
  private readonly appliedInline: boolean;
  /** The checkpoint as this consumer last loaded or saved it: where its subscription stands. */
  private followed?: Position;
  /** When the checkpoint last moved (Date.now()), and how often a read of others' events may move it. */
  private passedAt = 0;
  private readonly passOverEveryMs: number;

  async loadCheckpoint(): Promise<Position | undefined> {
    this.followed = await this.checkpoints.load(this.name);
    return this.followed;
  }

  async handle(events: RecordedEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.moveCheckpoint(async (client, saved) => {
      const fresh = saved ? events.filter((e) => comparePositions(e.position, saved) > 0) : events;
      if (fresh.length === 0) return undefined;
      if (!this.appliedInline) await applyBatch(client, this.projection, this.tableName, fresh);
      return fresh[fresh.length - 1].position;
    });
  }

  /**
   * A read that found none of this projection's events moves the checkpoint past the events it read,
   * at most once per `passOverEveryMs`: otherwise a read model of rare events (API keys, say) keeps a
   * checkpoint far behind the head, and whoever asks whether it has caught up (readiness, a query's
   * `min_position`) reads everything since its last own event to find out.
   */
  async passOver(readTo: Position): Promise<void> {
    if (Date.now() - this.passedAt < this.passOverEveryMs) return;
    if (this.followed && comparePositions(readTo, this.followed) <= 0) return;
    await this.moveCheckpoint(async (_client, saved) => (!saved || comparePositions(readTo, saved) > 0 ? readTo : undefined));
  }

  /**
   * One transaction, opened with the checkpoint row locked in the same round trip: `work` runs, and
   * the position it returns (if any) is saved. A redelivered batch thus changes nothing twice.
   */
  private async moveCheckpoint(work: (client: PoolClient, saved: Position | undefined) => Promise<Position | undefined>): Promise<void> {
    const client = await this.pool.connect();
    try {
      const saved = await lockCheckpoint(client, this.name, 'UPDATE', { begin: true });
      if (this.followed && (!saved || comparePositions(saved, this.followed) < 0)) {
        // The checkpoint went back (start-up refolds a table whose declaration changed): this batch
        // would skip the history before it. Failing makes the runner resubscribe from the checkpoint.
        this.followed = undefined;
        throw new CheckpointMovedBack(this.name);
      }
      const reached = await work(client, saved);
      if (reached) await this.checkpoints.save(this.name, reached, client);
      await client.query('COMMIT');
      if (reached) this.followed = reached;
      this.passedAt = Date.now();
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}

/** How often a consumer of an inline read model reads the log once woken (its checkpoint trails by about this). */
export const INLINE_FOLLOW_EVERY_MS = 250;

export class CheckpointMovedBack extends Error {
  constructor(consumer: string) {
    super(`The checkpoint of ${consumer} moved back; resubscribing from it.`);
    this.name = 'CheckpointMovedBack';
  }
}
