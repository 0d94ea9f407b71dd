import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { EventStore1763900000000 } from '../event-store/postgres/migrations/1763900000000-event-store';
import { READ_MODEL_ENTITIES, READ_MODEL_MIGRATIONS } from '../read-models/read-models';

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

export function createDataSource(url: string, poolSize = 10): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities: READ_MODEL_ENTITIES,
    migrations: [EventStore1763900000000, ...READ_MODEL_MIGRATIONS],
    migrationsTableName: 'schema_migrations',
    synchronize: false,
    logging: false,
    extra: { max: poolSize, connectionTimeoutMillis: 5_000 },
  });
}

/** Runs pending migrations, one process at a time (several apps may start together). */
export async function migrate(url: string): Promise<void> {
  const dataSource = createDataSource(url, 2);
  await dataSource.initialize();
  const runner = dataSource.createQueryRunner();
  try {
    await runner.connect();
    await runner.query(`SELECT pg_advisory_lock(hashtextextended('provider-store:migrations', 0))`);
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await runner.query(`SELECT pg_advisory_unlock(hashtextextended('provider-store:migrations', 0))`).catch(() => undefined);
    await runner.release();
    await dataSource.destroy();
  }
}
