import { Pool, QueryResult } from 'pg';
import { SqlPreparedStatement, prepareOnce } from '../database/prepared-statements';
import { CheckpointStore, beginWithCheckpoint, saveCheckpointSql } from '../event-store/consumers/checkpoint-store';
import { LogConsumer } from '../event-store/consumers/log-consumer';
import { ReadPace, RecordedEvent } from '../event-store/event-store.port';
import { Position, comparePositions } from '../event-store/position';
import { touchedRows, writesOf } from './inline-projections';
import { rollback } from '../database/transaction';
import { PreparedRowStatements, executeWith, preparedRowStatements } from './row-sql';
import { JsonRow, RowProjection } from './row-projection';

/** What a batch sends with its BEGIN and checkpoint lock, and what it sends with its COMMIT. */
interface BatchWork {
  /** Parameterless statements sent with BEGIN and the checkpoint lock (their results go to `finish`). */
  first: string[];
  /** Given the saved checkpoint and `first`'s results: where the checkpoint moves, and the writes before COMMIT. */
  finish(saved: Position | undefined, results: QueryResult[]): { reached?: Position; writes: string[] };
}

/**
 * Feeds a projection from the log: each batch's read-model changes and the checkpoint commit in one
 * transaction. The checkpoint row is locked first and events at or before it are dropped, so a
 * redelivered batch (a crash, a second replica, a rebuild that swapped tables) changes nothing twice.
 * A batch is two round trips: BEGIN, the checkpoint lock and the read of the rows it touches; then
 * the rows' writes, the checkpoint and COMMIT (prepared statements, as the inline writers use).
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
    this.name = projection.name;
    this.filter = { eventTypes: projection.eventTypes };
    this.batchSize = options.batchSize ?? 1000;
    this.statements = preparedRowStatements(projection.table);
  }

  readonly pace?: ReadPace;
  private readonly appliedInline: boolean;
  private readonly statements: PreparedRowStatements;
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
    const fresh = (saved: Position | undefined) => (saved ? events.filter((e) => comparePositions(e.position, saved) > 0) : events);
    const touched = this.appliedInline ? undefined : touchedRows(this.projection, events);
    if (!touched) {
      await this.moveCheckpoint({ first: [], finish: (saved) => ({ reached: fresh(saved).at(-1)?.position, writes: [] }) });
      return;
    }
    const s = this.statements;
    await this.moveCheckpoint(
      {
        // Every key of the batch is read; the rows of events the checkpoint has passed are simply not written.
        first: [executeWith(s.read, [...touched.keys.values()])],
        finish: (saved, [read]) => {
          const kept = fresh(saved);
          const applied = touchedRows(this.projection, kept);
          if (!applied) return { writes: [] };
          const stored = read.rows.map((r: { row: JsonRow }) => r.row);
          return { reached: kept.at(-1)?.position, writes: writesOf(applied, stored, s) };
        },
      },
      [s.read, s.delete, s.upsert, s.insert],
    );
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
    await this.moveCheckpoint({ first: [], finish: (saved) => ({ reached: !saved || comparePositions(readTo, saved) > 0 ? readTo : undefined, writes: [] }) });
  }

  /**
   * One transaction: BEGIN with the checkpoint row locked and `work.first` in one round trip, then
   * `work`'s writes, the position it reached (if any) and COMMIT in another. A redelivered batch
   * thus changes nothing twice.
   */
  private async moveCheckpoint(work: BatchWork, prepared: readonly SqlPreparedStatement[] = []): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await prepareOnce(client, prepared);
      const { saved, results } = await beginWithCheckpoint(client, this.name, work.first);
      if (this.followed && (!saved || comparePositions(saved, this.followed) < 0)) {
        // The checkpoint went back (start-up refolds a table whose declaration changed): this batch
        // would skip the history before it. Failing makes the runner resubscribe from the checkpoint.
        this.followed = undefined;
        throw new CheckpointMovedBack(this.name);
      }
      const { reached, writes } = work.finish(saved, results);
      await client.query([...writes, ...(reached ? [saveCheckpointSql(this.name, reached)] : []), 'COMMIT'].join(';\n'));
      if (reached) this.followed = reached;
      this.passedAt = Date.now();
    } catch (error) {
      broken = await rollback(client);
      throw error;
    } finally {
      client.release(broken);
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
