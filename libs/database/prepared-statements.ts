import { PoolClient } from 'pg';

/**
 * A statement prepared in SQL (`PREPARE name (types) AS sql`) once per connection and run with
 * `EXECUTE name(literals)`: unlike a protocol-level parameterised query, several EXECUTEs go to the
 * server in one round trip (one simple query), each planned once per connection.
 */
export interface SqlPreparedStatement {
  name: string;
  /** Its parameter types, as PREPARE takes them: `(jsonb)`, or '' for none. */
  parameters: string;
  sql: string;
}

/** What each connection has prepared (a connection lives as long as its pooled client). */
const preparedOn = new WeakMap<PoolClient, Set<string>>();

/**
 * Prepares those of `statements` this connection has not prepared yet, one PREPARE per query: the
 * server keeps the whole query text a PREPARE came in as the statement's source and copies it into
 * every EXECUTE's portal, so PREPAREs sent together would each cost every EXECUTE a copy of all of them.
 */
export async function prepareOnce(client: PoolClient, statements: readonly SqlPreparedStatement[]): Promise<void> {
  let done = preparedOn.get(client);
  if (!done) preparedOn.set(client, (done = new Set()));
  const missing = new Map<string, string>();
  for (const s of statements) if (!done.has(s.name)) missing.set(s.name, `PREPARE ${s.name} ${s.parameters} AS ${s.sql}`);
  if (missing.size === 0) return;
  for (const [name, prepare] of missing) {
    await client.query(prepare);
    done.add(name);
  }
}
