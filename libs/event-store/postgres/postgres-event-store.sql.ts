import { escapeLiteral } from 'pg';
import { SqlPreparedStatement } from '../../database/prepared-statements';
import { ExpectedRevision, NewEvent, RecordedEvent, StreamRevision } from '../event-store.port';

export interface EventRow {
  commit: string;
  global_position: string;
  stream_name: string;
  stream_revision: string;
  event_id: string;
  event_type: string;
  data: unknown;
  metadata: RecordedEvent['metadata'];
}

export interface AppendRow {
  current_revision: string;
  last_revision: string | null;
  commit: string | null;
  last_position: string | null;
  /**
   * Global position of each appended event, in stream order (what inline projections record); the
   * one-event statement does not return it.
   */
  positions?: string[] | null;
}

/*
 * One statement per append: read the stream's last revision, check the expectation and insert every
 * event, in one round trip and one implicit transaction. The unique (stream_name, stream_revision)
 * key settles races between writers that read the same revision.
 *
 * Subscribers are woken after the commit, not inside the append's transaction: a transaction that
 * has sent NOTIFY takes a database-wide lock at commit and holds it until its commit record is
 * flushed, which serialises every appending transaction behind one WAL flush each (no group commit).
 * Measured with 16 writers, 1 event per append: ratio to a raw INSERT 0.2–0.5 with NOTIFY in the
 * statement (bench/README.md). See `wakeSubscribers`.
 */

/** The last revision of the stream `streamName` (an SQL expression) names, -1 when it has none, read through the (stream_name, stream_revision) key. */
function lastRevisionSql(streamName: string): string {
  return `coalesce((SELECT stream_revision FROM es_events WHERE stream_name = ${streamName} ORDER BY stream_revision DESC LIMIT 1), -1)`;
}

/** The appended stream's last revision. */
const CURRENT_REVISION = `cur AS (SELECT ${lastRevisionSql('$1')} AS rev)`;

/**
 * Raises STREAM_MOVED (aborting the transaction) unless the stream is at the revision, prepared. The
 * revision is compared in plain SQL; `es_require_revision` (PL/pgSQL, which costs a call's setup on
 * every run) is called only to raise.
 */
export const REQUIRE_REVISION: SqlPreparedStatement = {
  name: 'es_require_revision_p',
  parameters: '(text, bigint)',
  sql: `SELECT CASE WHEN ${lastRevisionSql('$1')} = $2 THEN NULL ELSE es_require_revision($1, $2) END`,
};

/** A stream revision as an SQL literal, checked to be one. */
export function revisionLiteral(revision: number): string {
  if (!Number.isInteger(revision)) throw new Error(`not a stream revision: ${revision}`);
  return String(revision);
}

/** The EXECUTE of REQUIRE_REVISION for one stream (on a connection it is prepared on). */
export function requireRevision({ streamName, revision }: StreamRevision): string {
  return `EXECUTE ${REQUIRE_REVISION.name}(${escapeLiteral(streamName)}, ${revisionLiteral(revision)})`;
}

/** Whether the expectation ($6: exact, any, no_stream, stream_exists; $7 the exact revision) holds. */
const EXPECTATION_HOLDS = `CASE $6::text
          WHEN 'any' THEN true
          WHEN 'no_stream' THEN cur.rev = -1
          WHEN 'stream_exists' THEN cur.rev >= 0
          ELSE cur.rev = $7::bigint
        END`;

/**
 * Records a keyed request in `idempotency_keys` (see libs/application/idempotency-index.ts) in the
 * append's statement, so the key's record exists exactly when its events do. `metadata` is the
 * first event's metadata, which carries the key, its scope and the request's hash.
 */
function recordKey(metadata: string): string {
  return `, keyed AS (
  INSERT INTO idempotency_keys (scope, key, stream_name, first_revision, last_revision, request_hash)
  SELECT m->>'idempotency_scope', m->>'idempotency_key', $1, (SELECT min(stream_revision) FROM ins), (SELECT max(stream_revision) FROM ins), m->>'request_hash'
    FROM (SELECT ${metadata} AS m) AS first_event
   WHERE m->>'idempotency_key' IS NOT NULL AND m->>'idempotency_scope' IS NOT NULL AND EXISTS (SELECT 1 FROM ins)
  ON CONFLICT (scope, key) DO NOTHING
)`;
}

/**
 * How an append is conditioned. `checked`: the events go in only while the expectation holds and
 * every stream named in $8 (text[]) is still at its revision in $9 (bigint[]) (`AppendOptions.unchanged`),
 * and the statement raises ROWS_CHANGED when it inserted nothing, whatever the reason, so that what
 * follows it in the same simple query (an inline append's read-model writes) never runs after a
 * refused append. The caller learns why by making the append again the ordinary way.
 */
export type AppendCondition = 'expectation' | 'checked';

/** The condition of an append's INSERT … SELECT: the expectation, and for `checked` the other streams. */
function insertsWhen(condition: AppendCondition): string {
  if (condition === 'expectation') return EXPECTATION_HOLDS;
  return `${EXPECTATION_HOLDS}
    AND NOT EXISTS (SELECT FROM unnest($8::text[], $9::bigint[]) AS u(stream, rev) WHERE ${lastRevisionSql('u.stream')} <> u.rev)`;
}

/** For `checked`, a last column that raises ROWS_CHANGED unless `ins` holds a row (PL/pgSQL only to raise). */
function raisesUnlessInserted(condition: AppendCondition, inserted: string): string {
  return condition === 'checked' ? `,\n       CASE WHEN ${inserted} THEN NULL ELSE es_require_count(0, 1) END AS inserted` : '';
}

/** Any number of events, as arrays ($2 ids, $3 types, $4 data, $5 metadata, JSON as text). */
export function appendSql(recordKeys: boolean, condition: AppendCondition = 'expectation'): string {
  return `
WITH ${CURRENT_REVISION}, ins AS (
  INSERT INTO es_events (stream_name, stream_revision, event_id, event_type, data, metadata)
  SELECT $1, cur.rev + e.ord, e.id, e.type, e.data::jsonb, e.metadata::jsonb
  FROM cur, unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS e(id, type, data, metadata, ord)
  WHERE ${insertsWhen(condition)}
  ORDER BY e.ord
  RETURNING stream_revision, transaction_id, global_position
)${recordKeys ? recordKey('($5::text[])[1]::jsonb') : ''}
SELECT (SELECT rev FROM cur)::text AS current_revision,
       (SELECT max(stream_revision) FROM ins)::text AS last_revision,
       (SELECT transaction_id FROM ins LIMIT 1)::text AS commit,
       (SELECT max(global_position) FROM ins)::text AS last_position,
       (SELECT array_agg(global_position ORDER BY stream_revision) FROM ins)::text[] AS positions${raisesUnlessInserted(condition, 'EXISTS (SELECT FROM ins)')}`;
}

/**
 * One event, as scalars ($2 id, $3 type, $4 data, $5 metadata): most appends carry one, and arrays
 * cost both sides an encoding, a parse and an unnest. The result has no `positions`.
 */
export function appendOneSql(recordKeys: boolean, condition: AppendCondition = 'expectation'): string {
  return `
WITH ${CURRENT_REVISION}, ins AS (
  INSERT INTO es_events (stream_name, stream_revision, event_id, event_type, data, metadata)
  SELECT $1, cur.rev + 1, $2::uuid, $3::text, $4::jsonb, $5::jsonb
  FROM cur
  WHERE ${insertsWhen(condition)}
  RETURNING stream_revision, transaction_id, global_position
)${recordKeys ? recordKey('$5::jsonb') : ''}
SELECT cur.rev::text AS current_revision, ins.stream_revision::text AS last_revision,
       ins.transaction_id::text AS commit, ins.global_position::text AS last_position${raisesUnlessInserted(condition, 'ins.stream_revision IS NOT NULL')}
  FROM cur LEFT JOIN ins ON true`;
}

export const APPEND_SQL = appendSql(false);
export const APPEND_KEYED_SQL = appendSql(true);
export const APPEND_ONE_SQL = appendOneSql(false);
export const APPEND_ONE_KEYED_SQL = appendOneSql(true);

export const SELECT_COLUMNS = `transaction_id::text AS commit, global_position, stream_name, stream_revision,
  event_id, event_type, data, metadata`;

export function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    type: row.event_type,
    data: row.data,
    metadata: row.metadata,
    streamName: row.stream_name,
    revision: Number(row.stream_revision),
    position: { commit: BigInt(row.commit), prepare: BigInt(row.global_position) },
  };
}

// Named: each connection parses and plans the statement once, then only binds and executes it.
export function appendQuery(streamName: string, events: readonly NewEvent[], expected: ExpectedRevision, recordKeys = false) {
  const one = events.length === 1;
  const text = one ? (recordKeys ? APPEND_ONE_KEYED_SQL : APPEND_ONE_SQL) : recordKeys ? APPEND_KEYED_SQL : APPEND_SQL;
  return {
    name: `es_append${one ? '_one' : ''}${recordKeys ? '_keyed' : ''}`,
    text,
    values: [
      streamName,
      one ? events[0].id : events.map((e) => e.id),
      one ? events[0].type : events.map((e) => e.type),
      one ? JSON.stringify(events[0].data) : events.map((e) => JSON.stringify(e.data)),
      one ? JSON.stringify(events[0].metadata) : events.map((e) => JSON.stringify(e.metadata)),
      typeof expected === 'number' ? 'exact' : expected,
      typeof expected === 'number' ? expected : null,
    ],
  };
}
