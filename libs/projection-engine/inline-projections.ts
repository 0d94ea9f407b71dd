import { PoolClient, QueryResult } from 'pg';
import { RecordedEvent } from '../event-store/event-store.port';
import { InlineProjector } from '../event-store/postgres/inline-projector';
import { deleteStatement, lockRowsStatement, writeStatement } from './row-sql';
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

  async apply(client: PoolClient, events: readonly RecordedEvent[]): Promise<string[]> {
    const touched = this.fedBy(events.map((e) => e.type))
      .map((projection) => touchedRows(projection, events))
      .filter((t) => t !== undefined);
    if (touched.length === 0) return [];
    // Every read model's rows in one round trip, locked.
    const results = resultList(await client.query(touched.map((t) => lockRowsStatement(t.projection.table, [...t.keys.values()])).join(';\n')));
    return touched.flatMap((t, i) => writesOf(t, results[i].rows.map((r: { row: JsonRow }) => r.row)));
  }

  private fedBy(eventTypes: readonly string[]): RowProjection[] {
    return this.projections.filter((p) => eventTypes.some((t) => p.eventTypes.includes(t)));
  }
}

interface TouchedRows {
  projection: RowProjection;
  relevant: Array<{ key: string; event: RecordedEvent }>;
  keys: Map<string, Record<string, string>>;
}

function touchedRows(projection: RowProjection, events: readonly RecordedEvent[]): TouchedRows | undefined {
  const relevant = events.map((e) => keyedEvent(projection, e)).filter((r) => r !== undefined);
  if (relevant.length === 0) return undefined;
  const keys = new Map<string, Record<string, string>>();
  for (const r of relevant) keys.set(r.key, r.keyValues);
  return { projection, relevant, keys };
}

/**
 * The statements that bring the locked rows up to the append's events: rows the table has are
 * updated or deleted; new rows are plain INSERTs, so that two appends creating the same row cannot
 * both succeed (one fails on the key and its append is tried again, finding the row).
 */
function writesOf({ projection, relevant, keys }: TouchedRows, lockedRows: readonly JsonRow[]): string[] {
  const stored = new Map<string, JsonRow>();
  for (const row of lockedRows) stored.set(keyString(projection, row), row);
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
  const spec = projection.table;
  return [
    ...(deletes.length ? [deleteStatement(spec, deletes)] : []),
    ...(updates.length ? [writeStatement(spec, updates, true)] : []),
    ...(inserts.length ? [writeStatement(spec, inserts, false)] : []),
  ];
}

/** A simple query's results: one per statement (pg answers a lone statement's unwrapped). */
function resultList(result: QueryResult | QueryResult[]): QueryResult[] {
  return Array.isArray(result) ? result : [result];
}
