import { PoolClient } from 'pg';
import { RecordedEvent } from '../event-store/event-store.port';
import { KeyFilter } from './key-filter';
import { copyRows, copyable, deleteRows, insertRows, readRows, upsertRows } from './row-sql';
import { JsonRow, RowProjection, keyString, keyedEvent } from './row-projection';

interface CachedRow {
  keyValues: Record<string, string>;
  row: JsonRow | null;
  /** Whether the table holds a row for this key (as of the last read or flush). */
  stored: boolean;
  dirty: boolean;
  /** Number of the flush that last wrote the row (0: never written by this fold). */
  writtenBy: number;
}

/**
 * The changed rows of one flush, taken from the cache. It holds the row objects as they are now:
 * `evolve` is pure and returns new rows, so folding on while the flush is written cannot change them.
 */
export interface FlushPlan {
  deletes: Array<Record<string, string>>;
  /** Rows the table does not have (only this fold writes it): a plain INSERT, the cheapest write. */
  inserts: JsonRow[];
  /** Rows the table has. */
  updates: JsonRow[];
}

/** Rows of one table by key, folded in memory and written back in bulk. See `foldHistory`. */
export class RowCache {
  private readonly rows = new Map<string, CachedRow>();
  dirty = 0;

  /**
   * @param written when the table started empty: a filter of every key written since, so that keys
   * it has never seen (most keys, in a rebuild) are known absent without a lookup.
   */
  constructor(
    private readonly client: PoolClient,
    private readonly projection: RowProjection,
    private readonly table: string,
    private readonly written?: KeyFilter,
  ) {}

  async apply(events: readonly RecordedEvent[]): Promise<void> {
    const relevant = events.map((e) => keyedEvent(this.projection, e)).filter((r) => r !== undefined);
    const missing = new Map<string, Record<string, string>>();
    for (const { key, keyValues } of relevant) {
      if (this.rows.has(key) || missing.has(key)) continue;
      if (this.written && !this.written.mightContain(key)) this.remember(key, keyValues, null);
      else missing.set(key, keyValues);
    }
    if (missing.size > 0) await this.load(missing);
    for (const { key, event } of relevant) {
      const entry = this.rows.get(key) as CachedRow;
      entry.row = this.projection.evolve(entry.row, event);
      if (!entry.dirty) {
        entry.dirty = true;
        this.dirty++;
      }
    }
  }

  private async load(missing: Map<string, Record<string, string>>): Promise<void> {
    for (const row of await readRows(this.client, this.projection.table, this.table, [...missing.values()])) {
      const key = keyString(this.projection, row);
      const keyValues = missing.get(key);
      if (keyValues) this.remember(key, keyValues, row);
    }
    for (const [key, keyValues] of missing) if (!this.rows.has(key)) this.remember(key, keyValues, null);
  }

  private remember(key: string, keyValues: Record<string, string>, row: JsonRow | null): void {
    this.rows.set(key, { keyValues, row, stored: row !== null, dirty: false, writtenBy: 0 });
  }

  /** Takes every changed row for writing, and records the rows as written by flush number `flush`. */
  takeDirty(flush: number): FlushPlan {
    const plan: FlushPlan = { deletes: [], inserts: [], updates: [] };
    for (const entry of this.rows.values()) {
      if (!entry.dirty) continue;
      entry.dirty = false;
      entry.writtenBy = flush;
      if (entry.row) {
        (entry.stored ? plan.updates : plan.inserts).push(entry.row);
        entry.stored = true;
        this.written?.add(keyString(this.projection, entry.keyValues));
      } else if (entry.stored) {
        plan.deletes.push(entry.keyValues);
        entry.stored = false;
      }
    }
    this.dirty = 0;
    return plan;
  }

  /**
   * Forgets clean rows once the cache outgrows its bound: rows whose last write has committed
   * (flush number ≤ `committed`), since a lookup would otherwise not see them yet.
   */
  trim(capacity: number, committed: number): void {
    if (this.rows.size <= capacity) return;
    for (const [key, entry] of this.rows) if (!entry.dirty && entry.writtenBy <= committed) this.rows.delete(key);
  }
}

/** A flush's DELETE, upsert and INSERT, in the caller's transaction; with COPY when the column types allow. */
export async function writePlan(client: PoolClient, projection: RowProjection, table: string, plan: FlushPlan): Promise<void> {
  const spec = projection.table;
  await deleteRows(client, spec, table, plan.deletes);
  if (copyable(spec)) {
    await copyRows(client, spec, table, plan.updates, true);
    await copyRows(client, spec, table, plan.inserts, false);
  } else {
    await upsertRows(client, spec, table, plan.updates);
    await insertRows(client, spec, table, plan.inserts);
  }
}
