import { PoolClient } from 'pg';
import { quoteIdent } from '../database/sql';
import { RecordedEvent } from '../event-store/event-store.port';
import { Position, comparePositions } from '../event-store/position';
import { ProjectionAdminDeps } from './admin-deps';
import { KeyFilter } from './key-filter';
import { FlushPlan, RowCache, writePlan } from './row-cache';
import { RowProjection } from './row-projection';

export interface FoldOptions {
  /** Events per page read; the write-back cache flushes at 4× this many changed rows. */
  batchSize: number;
  /**
   * Refresh the table's planner statistics as it grows (after flush 1, 2, 4, 8…): a table created
   * empty is otherwise planned as empty, and the key lookups pick a poor index.
   */
  analyze?: boolean;
  /** Inclusive upper bound: events after it are left for later. */
  until?: Position;
  /** Aborting stops after the page in flight; what was folded is flushed (and checkpointed) first. */
  signal?: AbortSignal;
  /** Consumer name whose checkpoint commits with each flush; none: flushes commit without one. */
  checkpoint?: string;
  /** The table is empty and only this fold writes it: keys never written need no lookup. */
  fromEmptyTable?: boolean;
  /** Called after each page is folded (not necessarily flushed yet). */
  onBatch?(count: number, last: Position): void;
}

export interface FoldResult {
  events: number;
  /** Position of the last event folded and flushed. */
  position: Position | undefined;
  aborted: boolean;
}

const MAX_PAGES_PER_FLUSH = 20;

/**
 * Folds the projection's events after `from` into `table` (a shadow or scratch table only this
 * process writes), in pages of `batchSize` events.
 *
 * Reading and writing overlap: the next page is read, on another pooled connection, while the
 * current one is folded and written. Rows are folded in a bounded write-back cache: rows a page needs
 * are read from the table once (one query per page for the keys not cached), each event changes its
 * row in memory, and changed rows are written in one transaction, with the checkpoint, whenever
 * 4 × `batchSize` rows have changed or 20 pages have been folded. A row with many events is thus
 * written once per flush rather than once per event. Memory stays flat: one page or two of events
 * and about 8 × `batchSize` cached rows, whatever the length of the history.
 *
 * The fold is `applyBatch`'s (upcast, `keyOf`, `evolve`, upsert or delete by key); only the batch
 * boundaries differ, and a projection's result may not depend on those.
 */
export async function foldHistory(
  deps: ProjectionAdminDeps,
  client: PoolClient,
  projection: RowProjection,
  table: string,
  from: Position | undefined,
  options: FoldOptions,
): Promise<FoldResult> {
  // Flushes run on their own connection, so that the next pages are read and folded meanwhile.
  const writer = await deps.pool.connect();
  const cache = new RowCache(client, projection, table, options.fromEmptyTable ? new KeyFilter() : undefined);
  const fold = new HistoryFold(deps, writer, projection, table, from, options, cache);
  try {
    return await fold.run();
  } finally {
    // Never leave a read or a write running against a pool the caller may be about to close.
    await fold.settle();
    writer.release();
  }
}

class HistoryFold {
  private flushed: Position | undefined;
  private folded: Position | undefined;
  private events = 0;
  private pagesSinceFlush = 0;
  private flushes = 0;
  private nextAnalyze = 1;
  private inflight?: Promise<void>;
  private next?: Promise<RecordedEvent[]>;

  constructor(
    private readonly deps: ProjectionAdminDeps,
    private readonly writer: PoolClient,
    private readonly projection: RowProjection,
    private readonly table: string,
    private readonly from: Position | undefined,
    private readonly options: FoldOptions,
    private readonly cache: RowCache,
  ) {
    this.flushed = from;
    this.folded = from;
  }

  async run(): Promise<FoldResult> {
    const { batchSize, until } = this.options;
    const maxDirty = batchSize * 4;
    this.next = this.read(this.from);
    while (this.next) {
      if (this.options.signal?.aborted) {
        await this.flush();
        await this.inflight;
        return { events: this.events, position: this.flushed, aborted: true };
      }
      let page = await this.next;
      this.next = undefined;
      let more = page.length === batchSize;
      if (until && page.length > 0 && comparePositions(page[page.length - 1].position, until) > 0) {
        page = page.filter((e) => comparePositions(e.position, until) <= 0);
        more = false;
      }
      if (page.length === 0) break;
      const last = page[page.length - 1].position;
      if (more) this.next = this.read(last);
      // Rows the table has committed may leave the cache (between applies, never during one).
      this.cache.trim(maxDirty * 2, this.flushes);
      await this.cache.apply(page);
      this.folded = last;
      this.events += page.length;
      this.pagesSinceFlush++;
      if (this.cache.dirty >= maxDirty || this.pagesSinceFlush >= MAX_PAGES_PER_FLUSH) await this.flush();
      this.options.onBatch?.(page.length, last);
    }
    await this.flush();
    await this.inflight;
    return { events: this.events, position: this.flushed, aborted: false };
  }

  async settle(): Promise<void> {
    await this.next?.catch(() => undefined);
    await this.inflight?.catch(() => undefined);
  }

  private read(after: Position | undefined): Promise<RecordedEvent[]> {
    return this.deps.eventStore.readAll({ fromPosition: after, filter: { eventTypes: this.projection.eventTypes }, limit: this.options.batchSize });
  }

  /** Starts writing what has changed (after the previous flush has committed). */
  private async flush(): Promise<void> {
    await this.inflight;
    if (this.pagesSinceFlush === 0) return;
    const plan = this.cache.takeDirty(this.flushes + 1);
    this.pagesSinceFlush = 0;
    const started = this.write(plan, this.folded);
    // Awaited at the next flush or at the end; a failure surfaces there.
    started.catch(() => undefined);
    this.inflight = started;
  }

  private async write(plan: FlushPlan, at: Position | undefined): Promise<void> {
    const { writer } = this;
    await writer.query('BEGIN');
    try {
      // A lost commit on a crash only means those events are folded again from the checkpoint.
      await writer.query('SET LOCAL synchronous_commit = off');
      await writePlan(writer, this.projection, this.table, plan);
      if (this.options.checkpoint && at) await this.deps.checkpoints.save(this.options.checkpoint, at, writer);
      await writer.query('COMMIT');
    } catch (error) {
      await writer.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    this.flushed = at;
    this.flushes++;
    if (this.options.analyze && this.flushes === this.nextAnalyze) {
      this.nextAnalyze *= 2;
      await writer.query(`ANALYZE ${quoteIdent(this.table)}`);
    }
  }
}
