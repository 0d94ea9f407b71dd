import { PoolClient } from 'pg';
import { RecordedEvent } from '../event-store/event-store.port';
import { upcast } from '../domain/upcasters';
import { JsonRow, RowProjection, keyString } from './row-projection';

/**
 * Applies a batch of events to a projection's table (the live one or a rebuild's shadow copy) in the
 * caller's transaction: one SELECT for the rows the batch touches, the fold in memory, then one
 * upsert and one delete. Round trips per batch, not per event, are what make a rebuild fast.
 */
export async function applyBatch(client: PoolClient, projection: RowProjection, tableName: string, events: readonly RecordedEvent[]): Promise<number> {
  const { table } = projection;
  const relevant: Array<{ key: string; keyValues: Record<string, string>; event: RecordedEvent }> = [];
  for (const raw of events) {
    if (!projection.eventTypes.includes(raw.type)) continue;
    const event = upcast(raw);
    const keyValues = projection.keyOf(event);
    if (keyValues) relevant.push({ key: keyString(projection, keyValues), keyValues, event });
  }
  if (relevant.length === 0) return 0;

  const keys = new Map<string, Record<string, string>>();
  for (const r of relevant) keys.set(r.key, r.keyValues);
  const keyColumns = table.key.map((k) => `${quote(k)} ${table.columns[k]}`).join(', ');
  const join = table.key.map((k) => `t.${quote(k)} = k.${quote(k)}`).join(' AND ');
  const { rows } = await client.query<{ row: JsonRow }>(
    `SELECT to_jsonb(t) AS row FROM ${quote(tableName)} t
       JOIN jsonb_to_recordset($1::jsonb) AS k(${keyColumns}) ON ${join}`,
    [JSON.stringify([...keys.values()])],
  );
  const current = new Map<string, JsonRow | null>();
  for (const { row } of rows) current.set(keyString(projection, row), row);

  const touched = new Set<string>();
  for (const r of relevant) {
    const before = current.has(r.key) ? (current.get(r.key) ?? null) : null;
    current.set(r.key, projection.evolve(before, r.event));
    touched.add(r.key);
  }

  const upserts: JsonRow[] = [];
  const deletes: Array<Record<string, string>> = [];
  for (const key of touched) {
    const row = current.get(key);
    if (row) upserts.push(row);
    else deletes.push(keys.get(key) as Record<string, string>);
  }
  if (deletes.length > 0) {
    await client.query(
      `DELETE FROM ${quote(tableName)} t USING jsonb_to_recordset($1::jsonb) AS k(${keyColumns}) WHERE ${join}`,
      [JSON.stringify(deletes)],
    );
  }
  if (upserts.length > 0) {
    const columns = Object.keys(table.columns);
    const definitions = columns.map((c) => `${quote(c)} ${table.columns[c]}`).join(', ');
    const list = columns.map(quote).join(', ');
    const updates = columns.filter((c) => !table.key.includes(c)).map((c) => `${quote(c)} = EXCLUDED.${quote(c)}`);
    await client.query(
      `INSERT INTO ${quote(tableName)} (${list})
       SELECT ${list} FROM jsonb_to_recordset($1::jsonb) AS x(${definitions})
       ON CONFLICT (${table.key.map(quote).join(', ')}) DO ${updates.length ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING'}`,
      [JSON.stringify(upserts)],
    );
  }
  return relevant.length;
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
