import { PoolClient } from 'pg';

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
