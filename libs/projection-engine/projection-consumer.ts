import { Pool, PoolClient, QueryResult } from 'pg';
import { CheckpointStore } from '../event-store/consumers/checkpoint-store';
import { LogConsumer } from '../event-store/consumers/log-consumer';
import { RecordedEvent } from '../event-store/event-store.port';
import { Position, comparePositions } from '../event-store/position';
import { applyBatch } from './row-projection-writer';
import { RowProjection } from './row-projection';

interface CheckpointRow {
  commit_position: string;
  prepare_position: string;
}

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

  /**
   * Opens the batch's transaction and locks the checkpoint row, in one round trip once the row
   * exists (every batch after the consumer's first): each round trip of a batch adds to the lag
   * between an append and its row, and on a busy process each waits for the event loop too.
   * The consumer name is sent as a literal because a multi-statement query takes no parameters.
   */
  private async lockCheckpoint(client: PoolClient): Promise<Position> {
    const select = `SELECT commit_position, prepare_position FROM es_checkpoints WHERE consumer = ${client.escapeLiteral(this.name)} FOR UPDATE`;
    const [, locked] = (await client.query(`BEGIN; ${select}`)) as unknown as [QueryResult, QueryResult<CheckpointRow>];
    let row = locked.rows[0];
    if (!row) {
      await client.query(
        `INSERT INTO es_checkpoints (consumer, commit_position, prepare_position) VALUES ($1, -1, -1)
         ON CONFLICT (consumer) DO NOTHING`,
        [this.name],
      );
      row = (await client.query<CheckpointRow>(select)).rows[0];
    }
    return { commit: BigInt(row.commit_position), prepare: BigInt(row.prepare_position) };
  }

  loadCheckpoint(): Promise<Position | undefined> {
    return this.checkpoints.load(this.name);
  }

  async handle(events: RecordedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const client = await this.pool.connect();
    try {
      const saved = await this.lockCheckpoint(client);
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
