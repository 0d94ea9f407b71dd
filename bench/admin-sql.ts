import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { migrate } from '../libs/database/database';
import { startOrAttachEmbeddedPostgres } from '../libs/database/embedded-postgres';

/** The same server's URL for another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** One statement on a connection of its own (CREATE/DROP DATABASE cannot run in a pool's transaction). */
export async function admin(url: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, migrated database `<prefix>_<random>` for a bench tool: on DATABASE_URL's server, else on
 * the embedded one of the data folder `pg-bench` (started here when it is not running). `drop`
 * removes the database and stops a server started here.
 */
export async function scratchBenchDatabase(prefix: string): Promise<{ url: string; drop: () => Promise<void> }> {
  let adminUrl = process.env.DATABASE_URL;
  let stop: () => Promise<void> = async () => undefined;
  if (!adminUrl) {
    const pg = await startOrAttachEmbeddedPostgres('pg-bench');
    adminUrl = pg.url;
    stop = pg.stop;
  }
  const server = adminUrl;
  const db = `${prefix}_${randomBytes(4).toString('hex')}`;
  await admin(server, `CREATE DATABASE ${db}`);
  const url = withDatabase(server, db);
  const drop = async () => {
    await admin(server, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await stop();
  };
  await migrate(url).catch(async (error: unknown) => {
    await drop();
    throw error;
  });
  return { url, drop };
}
