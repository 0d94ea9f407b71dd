import { Pool } from 'pg';
import { CheckpointStore } from '../../libs/event-store/consumers/checkpoint-store';
import { LogConsumer } from '../../libs/event-store/consumers/log-consumer';
import { RecordedEvent } from '../../libs/event-store/event-store.port';
import { Position, comparePositions } from '../../libs/event-store/position';
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
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO es_checkpoints (consumer, commit_position, prepare_position) VALUES ($1, -1, -1)
         ON CONFLICT (consumer) DO NOTHING`,
        [this.name],
      );
      const { rows } = await client.query<{ commit_position: string; prepare_position: string }>(
        'SELECT commit_position, prepare_position FROM es_checkpoints WHERE consumer = $1 FOR UPDATE',
        [this.name],
      );
      const saved = { commit: BigInt(rows[0].commit_position), prepare: BigInt(rows[0].prepare_position) };
      const fresh = events.filter((e) => comparePositions(e.position, saved) > 0);
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
