import { Client, Pool, PoolClient } from 'pg';
import { Queryable } from './sql';

/**
 * Session advisory locks, named by text (`hashtextextended(name, 0)`): one replica per consumer,
 * one rebuild or verify per projection, one migration run at a time. The SQL lives here only.
 */
type Session = Pick<Client | PoolClient, 'query'>;

/** Takes the lock on `session` if free; true when this session holds it now. */
export async function tryAdvisoryLockOn(session: Session, lockName: string): Promise<boolean> {
  const { rows } = await session.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [lockName]);
  return rows[0].locked;
}

/** Takes the lock for the session's current transaction if free (released at COMMIT/ROLLBACK). */
export async function tryAdvisoryXactLockOn(session: Session, lockName: string): Promise<boolean> {
  const { rows } = await session.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked', [lockName]);
  return rows[0].locked;
}

/** Waits for the lock on `session`. */
export async function advisoryLockOn(session: Session, lockName: string): Promise<void> {
  await session.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockName]);
}

export async function advisoryUnlockOn(session: Session, lockName: string): Promise<void> {
  await session.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockName]);
}

/** Lets go of every lock the session holds (a runner stopping). */
export async function advisoryUnlockAllOn(session: Session): Promise<void> {
  await session.query('SELECT pg_advisory_unlock_all()');
}

export interface HeldLock {
  release(): Promise<void>;
}

/** Takes a lock on a pooled connection kept for it, or answers undefined when another session holds it. */
export async function tryAdvisoryLock(pool: Pool, lockName: string): Promise<HeldLock | undefined> {
  const client = await pool.connect();
  try {
    if (!(await tryAdvisoryLockOn(client, lockName))) {
      client.release();
      return undefined;
    }
  } catch (error) {
    client.release(true);
    throw error;
  }
  return { release: () => releaseOn(client, lockName) };
}

/** Runs `work` holding the lock (waiting for it), on the pooled connection that holds it. */
export async function withAdvisoryLock<T>(pool: Pool, lockName: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await advisoryLockOn(client, lockName);
  } catch (error) {
    client.release(true);
    throw error;
  }
  try {
    return await work(client);
  } finally {
    await releaseOn(client, lockName);
  }
}

async function releaseOn(client: PoolClient, lockName: string): Promise<void> {
  try {
    await advisoryUnlockOn(client, lockName);
    client.release();
  } catch {
    // Dropping the connection releases the lock as surely.
    client.release(true);
  }
}

export interface LockHolder {
  pid: number;
  application_name: string | null;
  client_addr: string | null;
}

/** Who holds the session advisory lock `lockName` in this database, if anyone. */
export async function advisoryLockHolder(db: Queryable, lockName: string): Promise<LockHolder | undefined> {
  const { rows } = await db.query<LockHolder>(
    `SELECT l.pid, a.application_name, host(a.client_addr) AS client_addr
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0)
      LIMIT 1`,
    [lockName],
  );
  return rows[0];
}
