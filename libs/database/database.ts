import { Pool } from 'pg';
import { eventStoreMigration } from '../event-store/postgres/migrations/1763900000000-event-store';
import { appendConditionsMigration } from '../event-store/postgres/migrations/1764500000000-append-conditions';
import { checkpointsTable } from '../event-store/consumers/checkpoint-store';
import { READ_MODEL_TABLES } from '../read-models/read-models';
import { ARTIFACT_TABLES } from '../artifacts/artifact-tables';
import { SECRET_TABLES } from '../secrets/secret-tables';
import { aggregateSnapshotsTable } from '../application/aggregate-snapshots';
import { idempotencyKeysTable } from '../application/idempotency-index';
import { DeclaredTable } from './table-spec';
import { withAdvisoryLock } from './advisory-lock';
import { TableChange, applyDeclaredTables } from './declared-tables';
import { runSqlMigrations } from './schema-migrations';

export function createPool(url: string, max: number, applicationName = 'provider-store'): Pool {
  const pool = new Pool({
    connectionString: url,
    max,
    application_name: applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its server (a restart) must not crash the process; the next query
  // reconnects, and the caller sees the error of that query instead.
  pool.on('error', () => undefined);
  // The pool listens for errors only on the clients it holds idle. A checked-out client between two
  // queries of a transaction has no listener, and a server shutting down sends every session an
  // error message that arrives right then: an 'error' event with no listener ends the process. With
  // this one the client is only marked unusable; its next query fails and the pool discards it.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

export interface SchemaReport {
  migrations: string[];
  tables: TableChange[];
}

const MIGRATION_LOCK = 'provider-store:migrations';

/**
 * Every table made from its declaration; the checkpoints first, since a refold resets some of them;
 * the artifact store's last (uploaded bytes, not read models).
 */
export const DECLARED_TABLES: readonly DeclaredTable[] = [checkpointsTable, ...READ_MODEL_TABLES, ...ARTIFACT_TABLES, ...SECRET_TABLES, aggregateSnapshotsTable, idempotencyKeysTable];

/**
 * Brings the database's schema up to date, one process at a time (several apps may start
 * together): the event store's SQL migrations, then every declared table (read models, telemetry)
 * created or rebuilt from its declaration. Runs on one connection of `pool`.
 */
export function migrateOn(pool: Pool): Promise<SchemaReport> {
  return withAdvisoryLock(pool, MIGRATION_LOCK, async (client) => {
    const migrations = await runSqlMigrations(client, [eventStoreMigration, appendConditionsMigration]);
    const tables = await applyDeclaredTables(client, DECLARED_TABLES);
    return { migrations, tables };
  });
}

/** `migrateOn` for a database given by URL (tests, benchmarks), on a connection of its own. */
export async function migrate(url: string): Promise<SchemaReport> {
  const pool = createPool(url, 1, 'provider-store-migrations');
  try {
    return await migrateOn(pool);
  } finally {
    await pool.end();
  }
}
