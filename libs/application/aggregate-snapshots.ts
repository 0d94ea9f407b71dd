import { isDeepStrictEqual } from 'node:util';
import { Pool } from 'pg';
import { SnapshotIdentity } from '../domain/decider';
import { DeclaredTable } from '../database/table-spec';
import { RecordedEvent } from '../event-store/event-store.port';
import { EventRow, SELECT_COLUMNS, toRecordedEvent } from '../event-store/postgres/postgres-event-store.sql';

/** A stream folded up to (and including) the event at `revision`, whose id was `eventId`. */
export interface AggregateSnapshot<State> {
  revision: number;
  eventId: string;
  state: State;
  /**
   * The latest `occurred_at` among every event folded into `state` (ISO), so that a time-travel read
   * (`as_of`) may start from this snapshot only when all of them had happened by then.
   */
  occurredUntil: string;
}

/** Which snapshot a load may start from: the newest at or before a revision, or one whose events all precede a time. */
export interface SnapshotBound {
  maxRevision?: number;
  occurredBy?: Date;
}

/** Write a stream's next snapshot once this many events have been appended after the last one. */
export const SNAPSHOT_EVERY = 25;

/**
 * Folded state of aggregate streams, kept every SNAPSHOT_EVERY events per stream and fold, so that a
 * command loads from the newest and a read `as_of` a past time from the newest before it. A cache,
 * never a source of truth: the log refills it on the next loads, so a changed declaration recreates it
 * empty. Lives in PostgreSQL whichever event store holds the log (PostgreSQL is always there, beside
 * the read models).
 */
export const aggregateSnapshotsTable: DeclaredTable = {
  spec: {
    name: 'aggregate_snapshots',
    key: ['stream_name', 'decider', 'stream_revision'],
    columns: {
      stream_name: 'text',
      decider: 'text',
      stream_revision: 'bigint',
      decider_version: 'integer',
      event_id: 'text',
      occurred_until: 'timestamptz',
      state: 'jsonb',
      written_at: 'timestamptz',
    },
    defaults: { written_at: 'now()' },
  },
  onChange: { kind: 'recreate' },
};

/**
 * Whether `state` survives JSON unchanged. Only such a state is stored: a Map, a Date or an
 * `undefined` field would come back different, so a snapshot of it could change a fold's result.
 */
export function roundTripsAsJson(state: unknown): boolean {
  try {
    return isDeepStrictEqual(JSON.parse(JSON.stringify(state)), state);
  } catch {
    return false;
  }
}

export interface SnapshotStore {
  /** The stream's newest snapshot within `bound`, written under exactly this fold's name and version, if any. */
  read<State>(streamName: string, fold: SnapshotIdentity, bound?: SnapshotBound): Promise<AggregateSnapshot<State> | undefined>;
  /** Adds a snapshot (a second one at the same revision is ignored); drops the stream's snapshots of other versions of the fold. */
  write<State>(streamName: string, fold: SnapshotIdentity, snapshot: AggregateSnapshot<State>): Promise<void>;
  /**
   * Where the log is in the same database (PostgreSQL): the newest snapshot and the stream's events
   * from its revision on (the whole stream without one), in one statement.
   */
  readWithLog?<State>(streamName: string, fold: SnapshotIdentity): Promise<SnapshotAndLog<State>>;
}

export interface SnapshotAndLog<State> {
  snapshot?: AggregateSnapshot<State>;
  /**
   * From the snapshot's own revision on (its anchor first), in stream order; from revision 0 without
   * a snapshot. At most LOG_READ_LIMIT: a load given that many must read the rest itself.
   */
  events: RecordedEvent[];
}

/** Events `readWithLog` returns at most. */
export const LOG_READ_LIMIT = 1000;

interface SnapshotRow {
  stream_revision: string;
  event_id: string;
  occurred_until: Date;
  state: unknown;
}

export class PostgresSnapshotStore implements SnapshotStore {
  readonly readWithLog?: <State>(streamName: string, fold: SnapshotIdentity) => Promise<SnapshotAndLog<State>>;

  /** `logBeside`: the event store's `es_events` is in this pool's database (the PostgreSQL event store). */
  constructor(
    private readonly pool: Pool,
    options: { logBeside?: boolean } = {},
  ) {
    if (options.logBeside) this.readWithLog = (streamName, fold) => this.readBesideLog(streamName, fold);
  }

  private async readBesideLog<State>(streamName: string, fold: SnapshotIdentity): Promise<SnapshotAndLog<State>> {
    const { rows } = await this.pool.query<EventRow & SnapshotRow & { is_snapshot: boolean }>({
      name: 'snapshot_and_log',
      text: `WITH snap AS (
               SELECT stream_revision, event_id, occurred_until, state FROM aggregate_snapshots
                WHERE stream_name = $1 AND decider = $2 AND decider_version = $3
                ORDER BY stream_revision DESC LIMIT 1)
             SELECT * FROM (
               SELECT ${SELECT_COLUMNS}, NULL::timestamptz AS occurred_until, NULL::jsonb AS state, false AS is_snapshot
                 FROM es_events WHERE stream_name = $1 AND stream_revision >= coalesce((SELECT stream_revision FROM snap), 0)
                ORDER BY stream_revision LIMIT $4) events
             UNION ALL
             SELECT NULL::text, NULL::bigint, NULL::text, stream_revision, event_id::uuid, NULL::text, NULL::jsonb, NULL::jsonb, occurred_until, state, true FROM snap`,
      // The limit keeps the plan an ordered index scan whatever the stream's length (the planner
      // cannot know the snapshot's revision when it plans); a load that reaches it reads on apart.
      values: [streamName, fold.name, fold.version, LOG_READ_LIMIT],
    });
    const snapshotRow = rows.find((r) => r.is_snapshot);
    return {
      snapshot: snapshotRow && snapshotOf<State>(snapshotRow),
      events: rows
        .filter((r) => !r.is_snapshot)
        .map(toRecordedEvent)
        .sort((a, b) => a.revision - b.revision),
    };
  }

  async read<State>(streamName: string, fold: SnapshotIdentity, bound: SnapshotBound = {}): Promise<AggregateSnapshot<State> | undefined> {
    const { rows } = await this.pool.query<SnapshotRow>(
      `SELECT stream_revision, event_id, occurred_until, state FROM aggregate_snapshots
        WHERE stream_name = $1 AND decider = $2 AND decider_version = $3
          AND ($4::bigint IS NULL OR stream_revision <= $4) AND ($5::timestamptz IS NULL OR occurred_until <= $5)
        ORDER BY stream_revision DESC LIMIT 1`,
      [streamName, fold.name, fold.version, bound.maxRevision ?? null, bound.occurredBy ?? null],
    );
    return rows[0] && snapshotOf<State>(rows[0]);
  }

  async write<State>(streamName: string, fold: SnapshotIdentity, snapshot: AggregateSnapshot<State>): Promise<void> {
    if (!roundTripsAsJson(snapshot.state)) return;
    await this.pool.query(
      `WITH stale AS (
         DELETE FROM aggregate_snapshots WHERE stream_name = $1 AND decider = $2 AND decider_version <> $3
       )
       INSERT INTO aggregate_snapshots (stream_name, decider, decider_version, stream_revision, event_id, occurred_until, state, written_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now())
       ON CONFLICT (stream_name, decider, stream_revision) DO NOTHING`,
      [streamName, fold.name, fold.version, snapshot.revision, snapshot.eventId, snapshot.occurredUntil, JSON.stringify(snapshot.state)],
    );
  }
}

function snapshotOf<State>(row: SnapshotRow): AggregateSnapshot<State> {
  // The state was checked to round-trip through JSON when written, so it is the state folded then.
  return { revision: Number(row.stream_revision), eventId: row.event_id, occurredUntil: row.occurred_until.toISOString(), state: row.state as State };
}
