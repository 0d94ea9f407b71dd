import { PoolClient } from 'pg';
import { RecordedEvent } from '../event-store/event-store.port';
import { InlineProjector } from '../event-store/postgres/inline-projector';
import { deleteRows, insertRows, readRowsForUpdate, upsertRows } from './row-sql';
import { JsonRow, RowProjection, keyString, keyedEvent } from './row-projection';

/** The transaction-scoped advisory lock an inline writer holds shared and a swap or verify exclusively. */
export const inlineLockName = (projection: RowProjection): string => `inline:${projection.name}`;

/** Whether the store writes this projection in the append's transaction. */
export function isInline(store: { inlineProjections?: readonly string[] }, projection: RowProjection): boolean {
  return store.inlineProjections?.includes(projection.name) ?? false;
}

/**
 * The read models PostgreSQL appends write in their own transaction. Each append holds, for every
 * read model its events feed, a shared advisory lock (taken in name order, before the transaction
 * has an id): a rebuild's swap or a verify takes it exclusively, so no inline write can fall
 * between its catch-up and its rename or comparison.
 */
export class InlineProjections implements InlineProjector {
  private readonly projections: readonly RowProjection[];
  readonly names: readonly string[];

  constructor(projections: readonly RowProjection[]) {
    this.projections = [...projections].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.names = this.projections.map((p) => p.name);
  }

  lockStatement(eventTypes: readonly string[]): string | undefined {
    const fed = this.fedBy(eventTypes);
    if (fed.length === 0) return undefined;
    const locks = fed.map((p) => `pg_advisory_xact_lock_shared(hashtextextended('${inlineLockName(p).replace(/'/g, "''")}', 0))`);
    return `SELECT ${locks.join(', ')}`;
  }

  async apply(client: PoolClient, events: readonly RecordedEvent[]): Promise<void> {
    for (const projection of this.fedBy(events.map((e) => e.type))) await applyInline(client, projection, events);
  }

  private fedBy(eventTypes: readonly string[]): RowProjection[] {
    return this.projections.filter((p) => eventTypes.some((t) => p.eventTypes.includes(t)));
  }
}

/**
 * Applies an append's events to the live table: the rows they touch are read `FOR UPDATE` in key
 * order (concurrent appends feeding one row, the catalog's install count, queue on it), new rows are
 * plain INSERTs (two appends creating the same row: one fails on the key and its append is retried),
 * stored rows are updated or deleted.
 */
export async function applyInline(client: PoolClient, projection: RowProjection, events: readonly RecordedEvent[]): Promise<void> {
  const relevant = events.map((e) => keyedEvent(projection, e)).filter((r) => r !== undefined);
  if (relevant.length === 0) return;
  const keys = new Map<string, Record<string, string>>();
  for (const r of relevant) keys.set(r.key, r.keyValues);
  const stored = new Map<string, JsonRow>();
  for (const row of await readRowsForUpdate(client, projection.table, [...keys.values()])) stored.set(keyString(projection, row), row);
  const current = new Map<string, JsonRow | null>(stored);
  for (const r of relevant) current.set(r.key, projection.evolve(current.get(r.key) ?? null, r.event));

  const inserts: JsonRow[] = [];
  const updates: JsonRow[] = [];
  const deletes: Array<Record<string, string>> = [];
  for (const [key, keyValues] of keys) {
    const row = current.get(key);
    if (row) (stored.has(key) ? updates : inserts).push(row);
    else if (stored.has(key)) deletes.push(keyValues);
  }
  const table = projection.table.name;
  await deleteRows(client, projection.table, table, deletes);
  await upsertRows(client, projection.table, table, updates, { named: true });
  await insertRows(client, projection.table, table, inserts, { named: true });
}
