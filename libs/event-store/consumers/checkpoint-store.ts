import { Pool, PoolClient } from 'pg';
import { Position } from '../position';

type Queryable = Pick<Pool | PoolClient, 'query'>;

/**
 * Per-consumer checkpoints in PostgreSQL, whichever store holds the events. A projection saves its
 * checkpoint with the client of its read-model transaction so both commit together.
 */
export class CheckpointStore {
  constructor(private readonly pool: Pool) {}

  async load(consumer: string, db: Queryable = this.pool): Promise<Position | undefined> {
    const { rows } = await db.query<{ commit_position: string; prepare_position: string }>(
      'SELECT commit_position, prepare_position FROM es_checkpoints WHERE consumer = $1',
      [consumer],
    );
    // A row at -1 is a consumer that has locked its checkpoint but not yet passed any event.
    if (!rows[0] || BigInt(rows[0].commit_position) < 0n) return undefined;
    return { commit: BigInt(rows[0].commit_position), prepare: BigInt(rows[0].prepare_position) };
  }

  async save(consumer: string, position: Position, db: Queryable = this.pool): Promise<void> {
    await db.query(
      `INSERT INTO es_checkpoints (consumer, commit_position, prepare_position, updated_at)
       VALUES ($1, $2, $3, now())
       ON CONFLICT (consumer) DO UPDATE
         SET commit_position = EXCLUDED.commit_position, prepare_position = EXCLUDED.prepare_position, updated_at = now()`,
      [consumer, position.commit.toString(), position.prepare.toString()],
    );
  }

  async reset(consumer: string, db: Queryable = this.pool): Promise<void> {
    await db.query('DELETE FROM es_checkpoints WHERE consumer = $1', [consumer]);
  }

  async all(): Promise<Array<{ consumer: string; position: Position; updatedAt: Date }>> {
    const { rows } = await this.pool.query<{ consumer: string; commit_position: string; prepare_position: string; updated_at: Date }>(
      'SELECT consumer, commit_position, prepare_position, updated_at FROM es_checkpoints ORDER BY consumer',
    );
    return rows.map((r) => ({
      consumer: r.consumer,
      position: { commit: BigInt(r.commit_position), prepare: BigInt(r.prepare_position) },
      updatedAt: r.updated_at,
    }));
  }
}
