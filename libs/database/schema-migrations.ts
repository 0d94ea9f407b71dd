import { PoolClient } from 'pg';

/**
 * A schema change written as SQL, applied once per database. The name ends in a 13-digit timestamp
 * (`EventStore1763900000000`), as TypeORM named them: databases it migrated keep their rows in
 * `schema_migrations` (id, timestamp, name), and those rows are what this runner reads, so nothing
 * is applied twice.
 */
export interface SqlMigration {
  name: string;
  statements: readonly string[];
}

const TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  id SERIAL PRIMARY KEY,
  "timestamp" bigint NOT NULL,
  name character varying NOT NULL
)`;

/** Applies the migrations not yet recorded, in order, each in its own transaction. Returns their names. */
export async function runSqlMigrations(client: PoolClient, migrations: readonly SqlMigration[]): Promise<string[]> {
  await client.query(TABLE);
  const { rows } = await client.query<{ name: string }>('SELECT name FROM schema_migrations');
  const applied = new Set(rows.map((r) => r.name));
  const ran: string[] = [];
  for (const migration of migrations) {
    if (applied.has(migration.name)) continue;
    await client.query('BEGIN');
    try {
      for (const statement of migration.statements) await client.query(statement);
      await client.query('INSERT INTO schema_migrations ("timestamp", name) VALUES ($1, $2)', [timestampOf(migration.name), migration.name]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    ran.push(migration.name);
  }
  return ran;
}

function timestampOf(name: string): string {
  const match = /(\d{13})$/.exec(name);
  if (!match) throw new Error(`Migration name ${name} does not end in a 13-digit timestamp.`);
  return match[1];
}
