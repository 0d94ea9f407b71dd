import { Client, Pool } from 'pg';

/**
 * A client with the pool's connection settings (address, credentials, application name, connect
 * timeout) but outside the pool, for a session held for as long as the process runs: an advisory
 * lock, a LISTEN. Held inside the pool, such sessions would take the connections queries need.
 * Not connected yet: the caller attaches its 'error' and 'end' listeners first, then connects.
 */
export function sessionBesidePool(pool: Pool): Client {
  const { max: _max, idleTimeoutMillis: _idle, ...settings } = pool.options;
  return new Client(settings);
}
