import { PoolClient } from 'pg';
import { resetCheckpoints } from '../event-store/consumers/checkpoint-store';
import { Queryable, quoteIdent } from './sql';
import { createIndexStatements, createTableStatements } from './table-ddl';
import { DeclaredTable, TableSpec, fingerprintOf, isNullable } from './table-spec';

/** What start-up did to a declared table. */
export interface TableChange {
  table: string;
  action: 'created' | 'adopted' | 'refolded' | 'recreated';
}

/** Each declared table's fingerprint as last applied: how a changed declaration is noticed. */
const FINGERPRINTS = `CREATE TABLE IF NOT EXISTS schema_tables (
  table_name text PRIMARY KEY,
  fingerprint text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/**
 * Brings every declared table in line with its declaration, each in its own transaction: creates
 * what is missing; adopts a table an older release made (no fingerprint yet) when its columns and
 * key are the declared ones, adding missing indexes; and applies the table's change policy when the
 * declaration changed since it was applied. Run under the migration lock.
 */
export async function applyDeclaredTables(client: PoolClient, tables: readonly DeclaredTable[]): Promise<TableChange[]> {
  await client.query(FINGERPRINTS);
  const { rows } = await client.query<{ table_name: string; fingerprint: string }>('SELECT table_name, fingerprint FROM schema_tables');
  const recorded = new Map(rows.map((r) => [r.table_name, r.fingerprint]));
  const changes: TableChange[] = [];
  for (const table of tables) {
    const fingerprint = fingerprintOf(table.spec);
    const exists = await tableExists(client, table.spec.name);
    if (exists && recorded.get(table.spec.name) === fingerprint) continue;
    const action = await inTransaction(client, () => bringInLine(client, table, exists, recorded.has(table.spec.name)));
    changes.push({ table: table.spec.name, action });
  }
  return changes;
}

async function bringInLine(client: PoolClient, table: DeclaredTable, exists: boolean, fingerprinted: boolean): Promise<TableChange['action']> {
  const { spec, onChange } = table;
  let action: TableChange['action'] = 'created';
  if (exists && !fingerprinted && (await hasDeclaredShape(client, spec))) {
    for (const statement of createIndexStatements(spec)) await client.query(statement);
    action = 'adopted';
  } else {
    if (exists) {
      if (onChange.kind === 'refuse') throw new Error(`Table ${spec.name} does not match its declaration, and its rows cannot be rebuilt.`);
      await client.query(`DROP TABLE ${quoteIdent(spec.name)}`);
      action = onChange.kind === 'refold' ? 'refolded' : 'recreated';
    }
    // A table made empty, or made again after someone dropped it, is folded from the start of the log.
    if (onChange.kind === 'refold') await resetCheckpoints(client, checkpointsOf(onChange.consumers));
    for (const statement of createTableStatements(spec)) await client.query(statement);
  }
  await client.query(
    `INSERT INTO schema_tables (table_name, fingerprint) VALUES ($1, $2)
     ON CONFLICT (table_name) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, applied_at = now()`,
    [spec.name, fingerprintOf(spec)],
  );
  return action;
}

/** A consumer's own checkpoint and its unfinished rebuild's, which folded into the dropped table. */
function checkpointsOf(consumers: readonly string[]): string[] {
  return consumers.flatMap((c) => [c, `${c}__rebuild`]);
}

async function inTransaction<T>(client: PoolClient, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

export async function tableExists(db: Queryable, table: string): Promise<boolean> {
  const { rows } = await db.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [quoteIdent(table)]);
  return rows[0].oid !== null;
}

/** `format_type` spellings of the short type names declarations use. */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  timestamptz: 'timestamp with time zone',
  int: 'integer',
  int4: 'integer',
  int8: 'bigint',
  bool: 'boolean',
  varchar: 'character varying',
};

/** Whether the table has exactly the declared columns (type and nullability, any order) and key. */
export async function hasDeclaredShape(db: Queryable, spec: TableSpec): Promise<boolean> {
  const { rows } = await db.query<{ name: string; type: string; not_null: boolean; in_key: boolean }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY(i.indkey)) AS in_key
       FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [quoteIdent(spec.name)],
  );
  const actual = rows.map((r) => `${r.name} ${r.type} ${r.not_null ? 'not null' : 'null'} ${r.in_key ? 'key' : ''}`).sort();
  const declared = Object.entries(spec.columns)
    .map(([name, type]) => {
      const notNull = spec.key.includes(name) || !isNullable(spec, name);
      return `${name} ${TYPE_NAMES[type] ?? type} ${notNull ? 'not null' : 'null'} ${spec.key.includes(name) ? 'key' : ''}`;
    })
    .sort();
  return JSON.stringify(actual) === JSON.stringify(declared);
}
