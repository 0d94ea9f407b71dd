import { PoolClient, escapeLiteral } from 'pg';
import { SqlPreparedStatement } from '../database/prepared-statements';
import { Queryable, quoteIdent } from '../database/sql';
import { TableSpec } from '../database/table-spec';
import { copyIn, copyLines } from './copy-in';
import { JsonRow } from './row-projection';
import { requireCountSql } from '../event-store/postgres/migrations/1764500000000-append-conditions';

/**
 * The statements that read and write a projection's rows by key, for the live writer and the
 * rebuild alike, on the live table or a copy of it (`table`). Rows travel as JSON and are converted
 * by PostgreSQL to the declared column types (`jsonb_to_recordset`), or as COPY text for bulk writes.
 */

type KeyValues = Record<string, string>;

/** The stored rows (as JSON objects) for the given keys; keys with no row are simply absent. */
export async function readRows(db: Queryable, spec: TableSpec, table: string, keys: readonly KeyValues[]): Promise<JsonRow[]> {
  const { key, columns } = spec;
  const { rows } = await db.query<{ row: JsonRow }>(
    `SELECT to_jsonb(t) AS row
       FROM unnest(${key.map((k, i) => `$${i + 1}::${columns[k]}[]`).join(', ')}) AS k(${key.map(quoteIdent).join(', ')})
       CROSS JOIN LATERAL ${rowsByKey(spec, table)}`,
    key.map((k) => keys.map((values) => values[k])),
  );
  return rows.map((r) => r.row);
}

export async function deleteRows(db: Queryable, spec: TableSpec, table: string, keys: readonly KeyValues[]): Promise<void> {
  if (keys.length === 0) return;
  const keyColumns = spec.key.map((k) => `${quoteIdent(k)} ${spec.columns[k]}`).join(', ');
  await db.query(deleteSql(spec, table, `jsonb_to_recordset($1::jsonb) AS k(${keyColumns})`), [JSON.stringify(keys)]);
}

/** Inserts the rows, replacing the stored row of any key that has one. */
export async function upsertRows(db: Queryable, spec: TableSpec, table: string, rows: readonly JsonRow[]): Promise<void> {
  if (rows.length > 0) await db.query(insertSql(spec, table, jsonSource(spec), true), [JSON.stringify(rows)]);
}

/** Inserts rows whose keys the table does not have (only the caller writes it): the cheapest write. */
export async function insertRows(db: Queryable, spec: TableSpec, table: string, rows: readonly JsonRow[]): Promise<void> {
  if (rows.length > 0) await db.query(insertSql(spec, table, jsonSource(spec), false), [JSON.stringify(rows)]);
}

/*
 * The live table's statements for the live writers (inline appends and projection consumers),
 * prepared in SQL once per connection (one jsonb parameter each) and run with EXECUTE and a literal
 * argument: several of them go to the server in one round trip (a write's reads with its BEGIN and
 * locks, its writes with its COMMIT), each planned once per connection.
 */

/** A prepared statement: `$1` of type jsonb, and for the two `…IfUnchanged` the versions `$2`, jsonb too. */
export type PreparedStatement = SqlPreparedStatement;

export interface PreparedRowStatements {
  /** The rows for the keys in `$1`, locked in key order (no two writers lock in opposite orders). */
  lock: PreparedStatement;
  /** The rows for the keys in `$1`, for a writer that holds the table's checkpoint lock (the only writer). */
  read: PreparedStatement;
  delete: PreparedStatement;
  upsert: PreparedStatement;
  /** A plain INSERT: a row another append created meanwhile fails it on the key. */
  insert: PreparedStatement;
  /**
   * Updates the rows in `$1`, each only while it is still the version `$2` names for its key
   * (`versionKey` → the `xmin` of the transaction that wrote it); raises ROWS_CHANGED
   * (`es_require_count`) unless all were.
   */
  updateIfUnchanged: PreparedStatement;
  /** Deletes the rows for the keys in `$1` on the same condition (`$2`). */
  deleteIfUnchanged: PreparedStatement;
}

export function preparedRowStatements(spec: TableSpec): PreparedRowStatements {
  const keyColumns = spec.key.map((k) => `${quoteIdent(k)} ${spec.columns[k]}`).join(', ');
  const keys = `jsonb_to_recordset($1::jsonb) AS k(${keyColumns})`;
  const named = (what: string, sql: string, parameters = '(jsonb)'): PreparedStatement => ({ name: `rm_${what}_${spec.name}`, parameters, sql });
  return {
    // Locked in key order: the keys are sorted, and each row is locked as its key's lookup finds it.
    lock: named(
      'lock',
      `SELECT to_jsonb(t) AS row FROM (SELECT * FROM ${keys} ORDER BY ${spec.key.map((k) => `k.${quoteIdent(k)}`).join(', ')}) k
         CROSS JOIN LATERAL ${rowsByKey(spec, spec.name, { lock: true })}`,
    ),
    read: named('read', `SELECT to_jsonb(t) AS row FROM ${keys} CROSS JOIN LATERAL ${rowsByKey(spec, spec.name)}`),
    delete: named('delete', deleteSql(spec, spec.name, keys)),
    upsert: named('upsert', insertSql(spec, spec.name, jsonSource(spec), true)),
    insert: named('insert', insertSql(spec, spec.name, jsonSource(spec), false)),
    updateIfUnchanged: named('update_unchanged', updateIfUnchangedSql(spec), '(jsonb, jsonb)'),
    // The rows found by key as `delete` finds them, each deleted only at the version `$2` names for it.
    deleteIfUnchanged: named(
      'delete_unchanged',
      `WITH gone AS (${deleteSql(spec, spec.name, keys)} AND xmin = ($2::jsonb ->> ${versionKeySql(spec)})::xid RETURNING 1)
       ${requireCountSql('(SELECT count(*) FROM gone)', 'jsonb_array_length($1::jsonb)')}`,
      '(jsonb, jsonb)',
    ),
  };
}

/** `versionKey` in SQL, of the table's row (unqualified columns, or `alias.`). */
function versionKeySql(spec: TableSpec, alias = ''): string {
  return `concat_ws(chr(31), ${spec.key.map((k) => `${alias}${quoteIdent(k)}::text`).join(', ')})`;
}

/**
 * See `PreparedRowStatements.updateIfUnchanged`: an upsert whose update applies only to the version
 * named for the key in `$2` (key columns as text joined by U+001F, see `versionKey`). A row missing
 * would be inserted (`xmax` 0), and one of another version not updated: either leaves fewer rows
 * updated than given, and the statement raises, undoing the insert with the transaction. The upsert's
 * conflict finds each row through the primary key, whatever the table's size.
 */
function updateIfUnchangedSql(spec: TableSpec): string {
  const list = Object.keys(spec.columns).map(quoteIdent).join(', ');
  const others = Object.keys(spec.columns).filter((c) => !spec.key.includes(c));
  // A table of key columns only has nothing to update: the key is set to itself, which still checks the version.
  const set = (others.length > 0 ? others : spec.key.slice(0, 1)).map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ');
  return `WITH written AS (
    INSERT INTO ${quoteIdent(spec.name)} AS t (${list}) SELECT ${list} FROM ${jsonSource(spec)}
    ON CONFLICT (${spec.key.map(quoteIdent).join(', ')}) DO UPDATE SET ${set}
     WHERE t.xmin = ($2::jsonb ->> ${versionKeySql(spec, 't.')})::xid
    RETURNING t.xmax <> 0 AS updated)
  ${requireCountSql('(SELECT count(*) FROM written WHERE updated)', 'jsonb_array_length($1::jsonb)')}`;
}

/** A row's key as `updateIfUnchanged`'s versions name it: the key columns' text joined by U+001F. */
export function versionKey(spec: TableSpec, row: Record<string, unknown>): string {
  return spec.key.map((k) => String(row[k])).join('\u001f');
}

/** `EXECUTE` of a prepared statement with its jsonb arguments inlined as escaped literals. */
export function executeWith(statement: PreparedStatement, ...values: unknown[]): string {
  return `EXECUTE ${statement.name}(${values.map((v) => escapeLiteral(JSON.stringify(v))).join(', ')})`;
}

/** Column types whose COPY text form is `String(value)` (jsonb: its JSON). Others take the JSON path. */
const COPYABLE_TYPES = new Set(['text', 'uuid', 'integer', 'bigint', 'jsonb', 'timestamptz', 'boolean']);

/** Whether rows of this table can be written with COPY, which costs a fraction of a large JSON parameter's parse. */
export function copyable(spec: TableSpec): boolean {
  return Object.values(spec.columns).every((t) => COPYABLE_TYPES.has(t));
}

/** `insertRows` or `upsertRows` through COPY; an upsert is staged in a temporary table dropped at commit. */
export async function copyRows(client: PoolClient, spec: TableSpec, table: string, rows: readonly JsonRow[], upsert: boolean): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(spec.columns);
  const lines = copyLines(rows, columns, columns.map((c) => spec.columns[c]));
  if (!upsert) {
    await copyIn(client, quoteIdent(table), columns.map(quoteIdent), lines);
    return;
  }
  const staging = 'fold_staging';
  await client.query(`CREATE TEMPORARY TABLE ${staging} (${columnDefinitions(spec)}) ON COMMIT DROP`);
  await copyIn(client, staging, columns.map(quoteIdent), lines);
  await client.query(insertSql(spec, table, staging, true));
  await client.query(`DROP TABLE ${staging}`);
}

function insertSql(spec: TableSpec, table: string, source: string, replace: boolean): string {
  const list = Object.keys(spec.columns).map(quoteIdent).join(', ');
  const insert = `INSERT INTO ${quoteIdent(table)} (${list}) SELECT ${list} FROM ${source}`;
  if (!replace) return insert;
  const updates = Object.keys(spec.columns)
    .filter((c) => !spec.key.includes(c))
    .map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
  return `${insert} ON CONFLICT (${spec.key.map(quoteIdent).join(', ')}) DO ${updates.length ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING'}`;
}

function jsonSource(spec: TableSpec): string {
  return `jsonb_to_recordset($1::jsonb) AS x(${columnDefinitions(spec)})`;
}

function columnDefinitions(spec: TableSpec): string {
  return Object.entries(spec.columns)
    .map(([c, type]) => `${quoteIdent(c)} ${type}`)
    .join(', ');
}

/**
 * The stored row of each key `k`, looked up by the table's primary key. A join would let the planner
 * hash the keys against a scan of the whole table: it takes a key list (a JSON array, an unnest) for
 * a hundred rows when an append brings one, so the cost of every write would grow with the table.
 */
function rowsByKey(spec: TableSpec, table: string, options: { lock?: boolean; columns?: string } = {}): string {
  // FOR UPDATE, or else OFFSET 0, keeps the planner from flattening the lookup back into a join.
  return `(SELECT ${options.columns ?? '*'} FROM ${quoteIdent(table)} t WHERE ${keyJoin(spec)} ${options.lock ? 'FOR UPDATE' : 'OFFSET 0'}) t`;
}

/** Deletes by the rows' own addresses, found by key (`rowsByKey`), for the same reason. */
function deleteSql(spec: TableSpec, table: string, keySource: string): string {
  return `DELETE FROM ${quoteIdent(table)} WHERE ctid = ANY (ARRAY(SELECT t.ctid FROM ${keySource} CROSS JOIN LATERAL ${rowsByKey(spec, table, { columns: 't.ctid' })}))`;
}

function keyJoin(spec: TableSpec): string {
  return spec.key.map((k) => `t.${quoteIdent(k)} = k.${quoteIdent(k)}`).join(' AND ');
}
