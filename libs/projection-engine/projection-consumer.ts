import { Pool } from 'pg';
import { CheckpointStore, lockCheckpoint } from '../event-store/consumers/checkpoint-store';
import { LogConsumer } from '../event-store/consumers/log-consumer';
import { RecordedEvent } from '../event-store/event-store.port';
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
    options: { consumerName?: string; tableName?: string; batchSize?: number } = {},
  ) {
    this.name = options.consumerName ?? projection.name;
    this.tableName = options.tableName ?? projection.table.name;
    this.filter = { eventTypes: projection.eventTypes };
    this.batchSize = options.batchSize ?? 1000;
  }

  private readonly tableName: string;

  loadCheckpoint(): Promise<Position | undefined> {
    return this.checkpoints.load(this.name);
  }

  async handle(events: RecordedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const client = await this.pool.connect();
    try {
      // Opens the batch's transaction and locks the checkpoint row in one round trip.
      const saved = await lockCheckpoint(client, this.name, 'UPDATE', { begin: true });
      const fresh = saved ? events.filter((e) => comparePositions(e.position, saved) > 0) : events;
      if (fresh.length > 0) {
        await applyBatch(client, this.projection, this.tableName, fresh);
        await this.checkpoints.save(this.name, fresh[fresh.length - 1].position, client);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
