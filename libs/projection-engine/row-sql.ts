import { PoolClient, escapeLiteral } from 'pg';
import { Queryable, quoteIdent } from '../database/sql';
import { TableSpec } from '../database/table-spec';
import { copyIn, copyLines } from './copy-in';
import { JsonRow } from './row-projection';

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
    `SELECT to_jsonb(t) AS row FROM ${quoteIdent(table)} t
       JOIN unnest(${key.map((k, i) => `$${i + 1}::${columns[k]}[]`).join(', ')}) AS k(${key.map(quoteIdent).join(', ')})
         ON ${keyJoin(spec)}`,
    key.map((k) => keys.map((values) => values[k])),
  );
  return rows.map((r) => r.row);
}

export async function deleteRows(db: Queryable, spec: TableSpec, table: string, keys: readonly KeyValues[]): Promise<void> {
  if (keys.length === 0) return;
  const keyColumns = spec.key.map((k) => `${quoteIdent(k)} ${spec.columns[k]}`).join(', ');
  await db.query(`DELETE FROM ${quoteIdent(table)} t USING jsonb_to_recordset($1::jsonb) AS k(${keyColumns}) WHERE ${keyJoin(spec)}`, [
    JSON.stringify(keys),
  ]);
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
 * The same reads and writes as parameterless statements, the values inlined as escaped literals:
 * several of them go to the server in one round trip (an inline write's reads together, its writes
 * together with its COMMIT), which is what an append's latency is made of.
 */

/** The live table's rows for these keys, locked in key order (no two writers lock in opposite orders). */
export function lockRowsStatement(spec: TableSpec, keys: readonly KeyValues[]): string {
  return `SELECT to_jsonb(t) AS row FROM ${quoteIdent(spec.name)} t JOIN ${keySource(spec, keys)} ON ${keyJoin(spec)}
           ORDER BY ${spec.key.map((k) => `t.${quoteIdent(k)}`).join(', ')} FOR UPDATE OF t`;
}

export function deleteStatement(spec: TableSpec, keys: readonly KeyValues[]): string {
  return `DELETE FROM ${quoteIdent(spec.name)} t USING ${keySource(spec, keys)} WHERE ${keyJoin(spec)}`;
}

/** INSERT of rows the table has not got (`replace`: or an upsert, for rows it has). */
export function writeStatement(spec: TableSpec, rows: readonly JsonRow[], replace: boolean): string {
  return insertSql(spec, spec.name, `jsonb_to_recordset(${escapeLiteral(JSON.stringify(rows))}::jsonb) AS x(${columnDefinitions(spec)})`, replace);
}

function keySource(spec: TableSpec, keys: readonly KeyValues[]): string {
  const keyColumns = spec.key.map((k) => `${quoteIdent(k)} ${spec.columns[k]}`).join(', ');
  return `jsonb_to_recordset(${escapeLiteral(JSON.stringify(keys))}::jsonb) AS k(${keyColumns})`;
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

function keyJoin(spec: TableSpec): string {
  return spec.key.map((k) => `t.${quoteIdent(k)} = k.${quoteIdent(k)}`).join(' AND ');
}
