import { Pool } from 'pg';
import { DeclaredTable } from '../database/table-spec';

/** Where a keyed request's first effect stands: its stream, the revisions it appended, its body's hash. */
export interface IdempotencyRecord {
  scope: string;
  key: string;
  streamName: string;
  firstRevision: number;
  lastRevision: number;
  requestHash: string | null;
}

/**
 * (scope, key) → the first response's place in the log, so that a retried request finds what it did
 * with one lookup by key instead of scanning the metadata of every event of its stream. Rows older
 * than the retention are ignored and purged; the key's effect stays single all the same, because the
 * events' ids derive from scope and key, so a retry after the retention collides in the log and the
 * runner falls back to scanning the stream (see `command-runner.ts`).
 */
export const idempotencyKeysTable: DeclaredTable = {
  spec: {
    name: 'idempotency_keys',
    key: ['scope', 'key'],
    columns: {
      scope: 'text',
      key: 'text',
      stream_name: 'text',
      first_revision: 'bigint',
      last_revision: 'bigint',
      request_hash: 'text',
      recorded_at: 'timestamptz',
    },
    nullable: ['request_hash'],
    defaults: { recorded_at: 'now()' },
    indexes: [{ suffix: 'recorded_at', columns: ['recorded_at'] }],
  },
  // A cache of what the log's metadata already says: emptied, it refills as keyed requests arrive.
  onChange: { kind: 'recreate' },
};

export interface IdempotencyIndex {
  /** The key's record, unless it is older than the retention. */
  find(scope: string, key: string): Promise<IdempotencyRecord | undefined>;
  /** Stores the record unless the key already has one (the first response stays the answer). */
  record(entry: IdempotencyRecord): Promise<void>;
  /** Deletes records older than the retention; returns how many. */
  purge(): Promise<number>;
}

interface IdempotencyRow {
  stream_name: string;
  first_revision: string;
  last_revision: string;
  request_hash: string | null;
}

export class PostgresIdempotencyIndex implements IdempotencyIndex {
  constructor(
    private readonly pool: Pool,
    private readonly retentionMs: number,
  ) {}

  async find(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
    const { rows } = await this.pool.query<IdempotencyRow>({
      name: 'idempotency_find',
      text: `SELECT stream_name, first_revision, last_revision, request_hash FROM idempotency_keys
              WHERE scope = $1 AND key = $2 AND recorded_at > now() - make_interval(secs => $3::double precision / 1000)`,
      values: [scope, key, this.retentionMs],
    });
    const row = rows[0];
    return row
      ? { scope, key, streamName: row.stream_name, firstRevision: Number(row.first_revision), lastRevision: Number(row.last_revision), requestHash: row.request_hash }
      : undefined;
  }

  async record(entry: IdempotencyRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO idempotency_keys (scope, key, stream_name, first_revision, last_revision, request_hash)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (scope, key) DO UPDATE
         SET stream_name = excluded.stream_name, first_revision = excluded.first_revision, last_revision = excluded.last_revision,
             request_hash = excluded.request_hash, recorded_at = excluded.recorded_at
         WHERE idempotency_keys.recorded_at <= now() - make_interval(secs => $7::double precision / 1000)`,
      [entry.scope, entry.key, entry.streamName, entry.firstRevision, entry.lastRevision, entry.requestHash, this.retentionMs],
    );
  }

  async purge(): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM idempotency_keys WHERE recorded_at <= now() - make_interval(secs => $1::double precision / 1000)`,
      [this.retentionMs],
    );
    return rowCount ?? 0;
  }
}
