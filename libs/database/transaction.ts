import { Pool, PoolClient } from 'pg';

/**
 * ROLLBACK after a failed transaction. Resolves to the error when the ROLLBACK fails too: the caller
 * then releases the connection with it (`client.release(error)`), which destroys it rather than
 * returning a connection still inside a transaction to the pool.
 */
export async function rollback(client: PoolClient): Promise<Error | undefined> {
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** `work` on one of the pool's connections between BEGIN and COMMIT; ROLLBACK (see `rollback`) if it throws. */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    broken = await rollback(client);
    throw error;
  } finally {
    client.release(broken);
  }
}
