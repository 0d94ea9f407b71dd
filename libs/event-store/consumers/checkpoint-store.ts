import { Pool, PoolClient, QueryResult, escapeLiteral } from 'pg';
import { DeclaredTable } from '../../database/table-spec';
import { Position } from '../position';

type Queryable = Pick<Pool | PoolClient, 'query'>;

/**
 * Where each consumer is in the log. Never rebuilt: the installer's and the process managers'
 * effects are not repeatable, so a changed declaration stops start-up for a hand-written migration.
 */
export const checkpointsTable: DeclaredTable = {
  spec: {
    name: 'es_checkpoints',
    key: ['consumer'],
    columns: { consumer: 'text', commit_position: 'bigint', prepare_position: 'bigint', updated_at: 'timestamptz' },
    defaults: { updated_at: 'now()' },
  },
  onChange: { kind: 'refuse' },
};

interface CheckpointRow {
  commit_position: string;
  prepare_position: string;
}

/** A row at -1 is a consumer that has locked its checkpoint but not yet passed any event. */
function positionOf(row: CheckpointRow | undefined): Position | undefined {
  if (!row || BigInt(row.commit_position) < 0n) return undefined;
  return { commit: BigInt(row.commit_position), prepare: BigInt(row.prepare_position) };
}

/**
 * Per-consumer checkpoints in PostgreSQL, whichever store holds the events. A projection saves its
 * checkpoint with the client of its read-model transaction so both commit together. Every
 * statement on `es_checkpoints` is here.
 */
export class CheckpointStore {
  constructor(private readonly pool: Pool) {}

  async load(consumer: string, db: Queryable = this.pool): Promise<Position | undefined> {
    const { rows } = await db.query<CheckpointRow>('SELECT commit_position, prepare_position FROM es_checkpoints WHERE consumer = $1', [consumer]);
    return positionOf(rows[0]);
  }

  async save(consumer: string, position: Position, db: Queryable = this.pool): Promise<void> {
    await db.query(saveCheckpointSql(consumer, position));
  }

  async reset(consumer: string, db: Queryable = this.pool): Promise<void> {
    await resetCheckpoints(db, [consumer]);
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

export async function resetCheckpoints(db: Queryable, consumers: readonly string[]): Promise<void> {
  await db.query('DELETE FROM es_checkpoints WHERE consumer = ANY($1::text[])', [consumers]);
}

/**
 * Locks a consumer's checkpoint row (creating it at -1 when absent) in the caller's transaction and
 * returns its position. Whoever changes the consumer's table locks this row first, which orders a
 * live batch, a rebuild's swap and a verify's comparison.
 */
export async function lockCheckpoint(client: PoolClient, consumer: string, mode: 'UPDATE' | 'SHARE'): Promise<Position | undefined> {
  return lockedOrCreated(client, consumer, mode, (await client.query<CheckpointRow>(lockSql(consumer, mode))).rows);
}

/**
 * Opens a transaction and locks the consumer's checkpoint row FOR UPDATE (see `lockCheckpoint`),
 * sending `statements` (parameterless) in the same round trip: their results come back with it. Once
 * the row exists (every batch after a consumer's first) that is one round trip: each round trip of
 * a batch adds to the lag between an append and its row. The consumer name is sent as a literal
 * because a multi-statement query takes no parameters.
 */
export async function beginWithCheckpoint(
  client: PoolClient,
  consumer: string,
  statements: readonly string[],
): Promise<{ saved: Position | undefined; results: QueryResult[] }> {
  const sent = ['BEGIN', lockSql(consumer, 'UPDATE'), ...statements].join(';\n');
  const [, locked, ...results] = (await client.query(sent)) as unknown as [QueryResult, QueryResult<CheckpointRow>, ...QueryResult[]];
  return { saved: await lockedOrCreated(client, consumer, 'UPDATE', locked.rows), results };
}

/** The statement that saves a checkpoint, with literal values, to be sent among others (as with COMMIT). */
export function saveCheckpointSql(consumer: string, position: Position): string {
  return `INSERT INTO es_checkpoints (consumer, commit_position, prepare_position, updated_at)
       VALUES (${escapeLiteral(consumer)}, ${position.commit.toString()}, ${position.prepare.toString()}, now())
       ON CONFLICT (consumer) DO UPDATE
         SET commit_position = EXCLUDED.commit_position, prepare_position = EXCLUDED.prepare_position, updated_at = now()`;
}

function lockSql(consumer: string, mode: 'UPDATE' | 'SHARE'): string {
  return `SELECT commit_position, prepare_position FROM es_checkpoints WHERE consumer = ${escapeLiteral(consumer)} FOR ${mode}`;
}

/** The locked row's position; a consumer's first lock creates its row (at -1) and locks that. */
async function lockedOrCreated(client: PoolClient, consumer: string, mode: 'UPDATE' | 'SHARE', rows: CheckpointRow[]): Promise<Position | undefined> {
  if (rows.length > 0) return positionOf(rows[0]);
  await client.query(
    `INSERT INTO es_checkpoints (consumer, commit_position, prepare_position) VALUES ($1, -1, -1)
     ON CONFLICT (consumer) DO NOTHING`,
    [consumer],
  );
  return positionOf((await client.query<CheckpointRow>(lockSql(consumer, mode))).rows[0]);
}
