import { Pool, QueryResult, escapeLiteral } from 'pg';
import { SqlPreparedStatement, prepareOnce } from '../../database/prepared-statements';
import { ExpectedRevision, NewEvent, RecordedEvent, StreamRevision } from '../event-store.port';
import { InlinePlan } from './inline-projector';
import { isConnectionError } from './connection-errors';
import { rollback } from '../../database/transaction';
import { AppendCondition, AppendRow, REQUIRE_REVISION, appendOneSql, appendSql, requireRevision, revisionLiteral } from './postgres-event-store.sql';

/**
 * One round trip when the plan knows every row the events touch (`InlinePlan.known`): BEGIN, the
 * read models' shared locks (before the transaction has an id), the checked append (it inserts only
 * while the other streams are unchanged, and raises unless it inserted), the writes (each only of the
 * row version they were computed from) and COMMIT. Should any check fail (another writer, a rebuild), the
 * transaction rolls back, the rows are forgotten, and the append is made the two-round-trip way:
 * BEGIN, the locks, the append and the read of the rows it touches, locked in key order; then their
 * writes with COMMIT. Concurrent appends feeding one row queue on it rather than deadlock or lose an
 * update. Either way, once committed, the plan remembers the rows written.
 */
export async function appendInline(
  pool: Pool,
  plan: InlinePlan,
  streamName: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
  recordKeys: boolean,
  /** Other streams that must still be at these revisions (`AppendOptions.unchanged`), checked in the append's transaction. */
  unchanged: readonly StreamRevision[] = [],
): Promise<AppendRow> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const one = events.length === 1;
    const append = appendStatement(one, recordKeys, 'expectation');
    const checked = appendStatement(one, recordKeys, 'checked');
    await prepareOnce(client, [append, checked, REQUIRE_REVISION, ...plan.prepared]);
    if (plan.known) {
      // The checked append raises unless it inserted: the writes after it never follow a refused append.
      const statements = ['BEGIN', plan.locks, executeAppend(checked.name, streamName, events, expected, unchanged), ...plan.known, 'COMMIT'];
      try {
        plan.useKnown();
        const results = resultList(await client.query(statements.join(';\n')));
        const row = results[2].rows[0] as AppendRow;
        if (row.commit !== null) plan.remember(row.commit);
        return row;
      } catch (error) {
        // A row changed since it was remembered, or the append itself was refused: nothing was written.
        broken = await rollback(client);
        plan.forget();
        if (broken || isConnectionError(error)) throw error;
      }
    }
    const appendSql = executeAppend(append.name, streamName, events, expected);
    const checks = unchanged.map(requireRevision);
    const reads = plan.reads();
    const results = resultList(await client.query(['BEGIN', plan.locks, appendSql, ...reads, ...checks].join(';\n')));
    const row = results[2].rows[0] as AppendRow;
    if (row.commit === null || row.last_revision === null || row.last_position === null) {
      await client.query('ROLLBACK');
      return row;
    }
    const writes = plan.writes(lockedRows(results.slice(3, 3 + reads.length)), recordedEvents(streamName, events, row));
    await client.query([...writes, 'COMMIT'].join(';\n'));
    plan.remember(row.commit);
    return row;
  } catch (error) {
    broken ??= await rollback(client);
    plan.forget();
    throw error;
  } finally {
    client.release(broken);
  }
}

/** The rows of each lock read (`{ row }` each). */
function lockedRows(results: readonly QueryResult[]): Array<Array<Record<string, unknown>>> {
  return results.map((r) => r.rows.map((x: { row: Record<string, unknown> }) => x.row));
}

/**
 * An append prepared in SQL (per connection), so an inline append can send it with other statements.
 * The `checked` one also takes the other streams' names and revisions (text[], bigint[]).
 */
function appendStatement(one: boolean, recordKeys: boolean, condition: AppendCondition): SqlPreparedStatement {
  const name = `es_append_inline${one ? '_one' : ''}${recordKeys ? '_keyed' : ''}${condition === 'checked' ? '_checked' : ''}`;
  let statement = APPENDS.get(name);
  if (!statement) {
    const columns = one ? '(text, uuid, text, text, text, text, bigint' : '(text, uuid[], text[], text[], text[], text, bigint';
    statement = {
      name,
      sql: one ? appendOneSql(recordKeys, condition) : appendSql(recordKeys, condition),
      parameters: `${columns}${condition === 'checked' ? ', text[], bigint[]' : ''})`,
    };
    APPENDS.set(name, statement);
  }
  return statement;
}

const APPENDS = new Map<string, SqlPreparedStatement>();

function executeAppend(statement: string, streamName: string, events: readonly NewEvent[], expected: ExpectedRevision, unchanged?: readonly StreamRevision[]): string {
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
  if (unchanged) {
    args.push(array(unchanged.map((u) => u.streamName), 'text'), `ARRAY[${unchanged.map((u) => revisionLiteral(u.revision)).join(', ')}]::bigint[]`);
  }
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
