import { PoolClient } from 'pg';
import { RecordedEvent } from '../event-store/event-store.port';
import { deleteRows, readRows, upsertRows } from './row-sql';
import { JsonRow, RowProjection, keyString, keyedEvent } from './row-projection';

/**
 * Applies a batch of events to a projection's table (the live one or a rebuild's shadow copy) in the
 * caller's transaction: one SELECT for the rows the batch touches, the fold in memory, then one
 * upsert and one delete. Round trips per batch, not per event, are what make a rebuild fast.
 */
export async function applyBatch(client: PoolClient, projection: RowProjection, tableName: string, events: readonly RecordedEvent[]): Promise<number> {
  const { table } = projection;
  const relevant = events.map((e) => keyedEvent(projection, e)).filter((r) => r !== undefined);
  if (relevant.length === 0) return 0;

  const keys = new Map<string, Record<string, string>>();
  for (const r of relevant) keys.set(r.key, r.keyValues);
  const current = new Map<string, JsonRow | null>();
  for (const row of await readRows(client, table, tableName, [...keys.values()])) current.set(keyString(projection, row), row);
  for (const r of relevant) current.set(r.key, projection.evolve(current.get(r.key) ?? null, r.event));

  const upserts: JsonRow[] = [];
  const deletes: Array<Record<string, string>> = [];
  for (const [key, keyValues] of keys) {
    const row = current.get(key);
    if (row) upserts.push(row);
    else deletes.push(keyValues);
  }
  await deleteRows(client, table, tableName, deletes);
  await upsertRows(client, table, tableName, upserts);
  return relevant.length;
}
