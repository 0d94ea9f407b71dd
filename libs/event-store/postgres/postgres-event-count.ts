import { Pool } from 'pg';
import { CountEventsQuery } from '../event-store.port';

/** `count(*)` over the visible log (below the oldest transaction in flight, as `readAll` reads it). */
export async function countEvents(pool: Pool, query: CountEventsQuery): Promise<number> {
  const params: unknown[] = [query.eventTypes];
  const conditions = ['event_type = ANY($1::text[])', 'transaction_id < pg_snapshot_xmin(pg_current_snapshot())'];
  if (query.after) {
    params.push(query.after.commit.toString(), query.after.prepare.toString());
    conditions.push(`(transaction_id, global_position) > ($${params.length - 1}::xid8, $${params.length}::bigint)`);
  }
  if (query.upTo) {
    params.push(query.upTo.commit.toString(), query.upTo.prepare.toString());
    conditions.push(`(transaction_id, global_position) <= ($${params.length - 1}::xid8, $${params.length}::bigint)`);
  }
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM es_events WHERE ${conditions.join(' AND ')}`, params);
  return Number(rows[0].n);
}
