import { Pool, QueryResult, escapeLiteral } from 'pg';
import { prepareOnce } from '../../database/prepared-statements';
import { ExpectedRevision, NewEvent, RecordedEvent, StreamRevision } from '../event-store.port';
import { InlinePlan } from './inline-projector';
import { APPEND_KEYED_SQL, APPEND_ONE_KEYED_SQL, APPEND_ONE_SQL, APPEND_SQL, AppendRow } from './postgres-event-store.sql';

/**
 * Two round trips: BEGIN, the read models' shared locks (before the transaction has an id), the
 * append (a statement prepared once per connection) and the read of the rows it touches, locked in
 * key order; then their writes with COMMIT. Concurrent appends feeding one row queue on it rather
 * than deadlock or lose an update.
 */
export async function appendInline(
  pool: Pool,
  plan: InlinePlan,
  streamName: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
  recordKeys: boolean,
  /** Other streams that must still be at these revisions (`AppendOptions.unchanged`), checked after the append. */
  unchanged: readonly StreamRevision[] = [],
): Promise<AppendRow> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const append = APPENDS[events.length === 1 ? 'one' : 'many'][recordKeys ? 'keyed' : 'plain'];
    await prepareOnce(client, [append, ...plan.prepared]);
    const statements = ['BEGIN', plan.locks, executeAppend(append.name, streamName, events, expected), ...plan.reads, ...unchanged.map(requireRevisionSql)];
    const results = resultList(await client.query(statements.join(';\n')));
    const row = results[2].rows[0] as AppendRow;
    if (row.commit === null || row.last_revision === null || row.last_position === null) {
      await client.query('ROLLBACK');
      return row;
    }
    const rowsPerRead = results.slice(3, 3 + plan.reads.length).map((r) => r.rows.map((x: { row: Record<string, unknown> }) => x.row));
    const writes = plan.writes(rowsPerRead, recordedEvents(streamName, events, row));
    await client.query([...writes, 'COMMIT'].join(';\n'));
    return row;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** Raises STREAM_MOVED (aborting the transaction) unless the stream is at the revision. */
export function requireRevisionSql({ streamName, revision }: StreamRevision): string {
  if (!Number.isInteger(revision)) throw new Error(`not a stream revision: ${revision}`);
  return `SELECT es_require_revision(${escapeLiteral(streamName)}, ${revision})`;
}

/** The appends prepared in SQL (per connection), so an inline append can send one with other statements. */
const APPENDS = {
  many: {
    plain: { name: 'es_append_inline', sql: APPEND_SQL, parameters: '(text, uuid[], text[], text[], text[], text, bigint)' },
    keyed: { name: 'es_append_inline_keyed', sql: APPEND_KEYED_SQL, parameters: '(text, uuid[], text[], text[], text[], text, bigint)' },
  },
  one: {
    plain: { name: 'es_append_inline_one', sql: APPEND_ONE_SQL, parameters: '(text, uuid, text, text, text, text, bigint)' },
    keyed: { name: 'es_append_inline_one_keyed', sql: APPEND_ONE_KEYED_SQL, parameters: '(text, uuid, text, text, text, text, bigint)' },
  },
};

function executeAppend(statement: string, streamName: string, events: readonly NewEvent[], expected: ExpectedRevision): string {
  const array = (values: string[], type: string) => `ARRAY[${values.map(escapeLiteral).join(', ')}]::${type}[]`;
  const each = (values: string[], type: string) => (values.length === 1 ? escapeLiteral(values[0]) : array(values, type));
  const args = [
    escapeLiteral(streamName),
    each(events.map((e) => e.id), 'uuid'),
    each(events.map((e) => e.type), 'text'),
    each(events.map((e) => JSON.stringify(e.data)), 'text'),
    each(events.map((e) => JSON.stringify(e.metadata)), 'text'),
    escapeLiteral(typeof expected === 'number' ? 'exact' : expected),
    typeof expected === 'number' && Number.isInteger(expected) ? String(expected) : 'NULL',
  ];
  return `EXECUTE ${statement}(${args.join(', ')})`;
}

/** A simple query's results: one per statement. */
function resultList(result: QueryResult | QueryResult[]): QueryResult[] {
  return Array.isArray(result) ? result : [result];
}

/** The events as the log now holds them: contiguous revisions, one transaction, their own positions. */
function recordedEvents(streamName: string, events: readonly NewEvent[], row: AppendRow): RecordedEvent[] {
  const first = Number(row.last_revision) - events.length + 1;
  const commit = BigInt(row.commit as string);
  const positions = row.positions ?? [row.last_position as string];
  return events.map((e, i) => ({ ...e, streamName, revision: first + i, position: { commit, prepare: BigInt(positions[i]) } }));
}
