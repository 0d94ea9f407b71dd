import { isDeepStrictEqual } from 'node:util';
import { Pool } from 'pg';
import { SnapshotIdentity } from '../domain/decider';
import { DeclaredTable } from '../database/table-spec';

/** A stream folded up to (and including) the event at `revision`, whose id was `eventId`. */
export interface AggregateSnapshot<State> {
  revision: number;
  eventId: string;
  state: State;
}

/** Refresh a stream's snapshot once this many events have been appended after it. */
export const SNAPSHOT_EVERY = 50;

/**
 * Folded state of aggregate streams, one row per stream and fold. A cache, never a source of truth:
 * the log refills it on the next loads, so a changed declaration recreates it empty. Lives in
 * PostgreSQL whichever event store holds the log (PostgreSQL is always there, beside the read models).
 */
export const aggregateSnapshotsTable: DeclaredTable = {
  spec: {
    name: 'aggregate_snapshots',
    key: ['stream_name', 'decider'],
    columns: {
      stream_name: 'text',
      decider: 'text',
      decider_version: 'integer',
      stream_revision: 'bigint',
      event_id: 'text',
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
  /** The stream's snapshot written under exactly this fold's name and version, if any. */
  read<State>(streamName: string, fold: SnapshotIdentity): Promise<AggregateSnapshot<State> | undefined>;
  /** Keeps the newer of the stored and the given snapshot (by revision), or replaces one of another version. */
  write<State>(streamName: string, fold: SnapshotIdentity, snapshot: AggregateSnapshot<State>): Promise<void>;
}

interface SnapshotRow {
  stream_revision: string;
  event_id: string;
  state: unknown;
}

export class PostgresSnapshotStore implements SnapshotStore {
  constructor(private readonly pool: Pool) {}

  async read<State>(streamName: string, fold: SnapshotIdentity): Promise<AggregateSnapshot<State> | undefined> {
    const { rows } = await this.pool.query<SnapshotRow>(
      `SELECT stream_revision, event_id, state FROM aggregate_snapshots
        WHERE stream_name = $1 AND decider = $2 AND decider_version = $3`,
      [streamName, fold.name, fold.version],
    );
    const row = rows[0];
    // The state was checked to round-trip through JSON when written, so it is the state folded then.
    return row ? { revision: Number(row.stream_revision), eventId: row.event_id, state: row.state as State } : undefined;
  }

  async write<State>(streamName: string, fold: SnapshotIdentity, snapshot: AggregateSnapshot<State>): Promise<void> {
    if (!roundTripsAsJson(snapshot.state)) return;
    await this.pool.query(
      `INSERT INTO aggregate_snapshots (stream_name, decider, decider_version, stream_revision, event_id, state, written_at)
       VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (stream_name, decider) DO UPDATE
         SET decider_version = excluded.decider_version, stream_revision = excluded.stream_revision,
             event_id = excluded.event_id, state = excluded.state, written_at = excluded.written_at
         WHERE aggregate_snapshots.decider_version <> excluded.decider_version
            OR aggregate_snapshots.stream_revision < excluded.stream_revision`,
      [streamName, fold.name, fold.version, snapshot.revision, snapshot.eventId, JSON.stringify(snapshot.state)],
    );
  }
}
