import { Pool, PoolClient } from 'pg';
import { CheckpointStore } from '../event-store/consumers/checkpoint-store';
import { EventStore, RecordedEvent } from '../event-store/event-store.port';
import { Position, comparePositions, encodePosition, maxPosition } from '../event-store/position';
import { PostgresEventStore } from '../event-store/postgres/postgres-event-store';
import { upcast } from '../domain/upcasters';
import { copyField, copyIn } from './copy-in';
import { applyBatch } from './row-projection-writer';
import { JsonRow, RowProjection, keyString } from './row-projection';

/**
 * Rebuilds a projection's table from the whole history without taking the read model offline.
 *
 * The history is folded into a shadow table (`<table>__rebuild`, a copy of the live table's
 * structure) in pages of events (see `foldHistory`); each write of folded rows commits in one
 * transaction with the shadow checkpoint (`<name>__rebuild`), so an interrupted rebuild resumes where
 * it stopped when run again. Memory stays flat: a page or two of events and a bounded row cache,
 * however long the history.
 *
 * Once the shadow has caught up with the head, one transaction swaps it in: it locks the live
 * consumer's checkpoint row (which blocks the live projection's next batch, since every batch locks
 * that row first), applies what was appended meanwhile, renames the tables, drops the old one and
 * moves the live checkpoint to the shadow's. The live projection then skips, by its checkpoint, every
 * event the rebuild already applied.
 */

export interface ProjectionAdminDeps {
  pool: Pool;
  eventStore: EventStore;
  checkpoints: CheckpointStore;
}

export interface RebuildProgress {
  name: string;
  /** Events applied by this run so far. */
  processed: number;
  /** Events this run has to apply (those after the resume point), when the store can count them. */
  total: number | undefined;
  elapsedMs: number;
  eventsPerSecond: number;
}

export interface RebuildOptions {
  /** Events per page read, and most rows written per transaction (default 5000). */
  batchSize?: number;
  /** Aborting stops after the page in flight; the next run resumes from the shadow checkpoint. */
  signal?: AbortSignal;
  onStart?(info: { name: string; total: number | undefined; resumedFrom: Position | undefined }): void;
  onProgress?(progress: RebuildProgress): void;
  /** How long the swap may wait for a table lock before it retries (default 10 s, 5 attempts). */
  swapLockTimeoutMs?: number;
}

export interface RebuildReport {
  name: string;
  /** Events applied by this run (the catch-up at the swap included). */
  events: number;
  seconds: number;
  events_per_second: number;
  /** True when this run continued an interrupted one. */
  resumed: boolean;
  /** True when the run was aborted before the swap; nothing live changed. */
  aborted: boolean;
  /** Checkpoint the live projection continues from, once swapped. */
  position: string | null;
}

export class ProjectionBusy extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'ProjectionBusy';
  }
}

export const DEFAULT_BATCH_SIZE = 5000;

export const shadowTableOf = (projection: RowProjection): string => `${projection.table.name}__rebuild`;
export const rebuildConsumerOf = (projection: RowProjection): string => `${projection.name}__rebuild`;

export async function rebuildProjection(
  deps: ProjectionAdminDeps,
  projection: RowProjection,
  options: RebuildOptions = {},
): Promise<RebuildReport> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const live = projection.table.name;
  const shadow = shadowTableOf(projection);
  const shadowConsumer = rebuildConsumerOf(projection);
  const started = Date.now();

  const guard = await tryAdvisoryLock(deps.pool, `rebuild:${projection.name}`);
  if (!guard) throw new ProjectionBusy(`A rebuild of ${projection.name} is already running.`);
  const client = await deps.pool.connect();
  try {
    if (!(await tableExists(client, live))) throw new Error(`Table ${live} of projection ${projection.name} does not exist.`);
    let from = await deps.checkpoints.load(shadowConsumer, client);
    const resumed = from !== undefined && (await tableExists(client, shadow));
    if (!resumed) {
      from = undefined;
      await client.query('BEGIN');
      await client.query(`DROP TABLE IF EXISTS ${quoteIdent(shadow)}`);
      await createCopyTable(client, live, shadow);
      await deps.checkpoints.reset(shadowConsumer, client);
      await client.query('COMMIT');
    }

    const total = await countMatchingEvents(deps, projection.eventTypes, from);
    options.onStart?.({ name: projection.name, total, resumedFrom: from });

    let processed = 0;
    const progress = (): RebuildProgress => {
      const elapsedMs = Date.now() - started;
      return { name: projection.name, processed, total, elapsedMs, eventsPerSecond: rate(processed, elapsedMs) };
    };
    const folded = await foldHistory(deps, client, projection, shadow, from, {
      batchSize,
      signal: options.signal,
      checkpoint: shadowConsumer,
      analyze: true,
      fromEmptyTable: !resumed,
      onBatch: (count) => {
        processed += count;
        options.onProgress?.(progress());
      },
    });

    if (folded.aborted) {
      return report(projection.name, processed, started, resumed, true, null);
    }

    // Fresh statistics before the table starts serving queries.
    await client.query(`ANALYZE ${quoteIdent(shadow)}`);
    const swapped = await swapIn(deps, client, projection, batchSize, options.swapLockTimeoutMs ?? 10_000);
    processed += swapped.events;
    options.onProgress?.(progress());
    return report(projection.name, processed, started, resumed, false, swapped.position ? encodePosition(swapped.position) : null);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
    await guard.release();
  }
}

function report(name: string, events: number, started: number, resumed: boolean, aborted: boolean, position: string | null): RebuildReport {
  const ms = Date.now() - started;
  return { name, events, seconds: Math.round(ms) / 1000, events_per_second: rate(events, ms), resumed, aborted, position };
}

function rate(events: number, ms: number): number {
  return ms > 0 ? Math.round((events * 1000) / ms) : events;
}

/**
 * The swap, in one transaction. Locking the live checkpoint row first is what makes it safe: a live
 * batch locks that same row before it touches the table, so none can commit between the catch-up and
 * the rename, and any batch waiting on the lock finds the new checkpoint and skips what is done.
 */
async function swapIn(
  deps: ProjectionAdminDeps,
  client: PoolClient,
  projection: RowProjection,
  batchSize: number,
  lockTimeoutMs: number,
): Promise<{ events: number; position: Position | undefined }> {
  const live = projection.table.name;
  const shadow = shadowTableOf(projection);
  const old = `${live}__old`;
  const shadowConsumer = rebuildConsumerOf(projection);
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
      const livePosition = await lockCheckpoint(client, projection.name, 'UPDATE');
      let position = await deps.checkpoints.load(shadowConsumer, client);
      let events = 0;
      for (;;) {
        const page = await deps.eventStore.readAll({ fromPosition: position, filter: { eventTypes: projection.eventTypes }, limit: batchSize });
        if (page.length === 0) break;
        await applyBatch(client, projection, shadow, page);
        events += page.length;
        position = page[page.length - 1].position;
        if (page.length < batchSize) break;
      }
      const liveIndexes = await indexesOf(client, live);
      const liveFillfactor = await fillfactorOf(client, live);
      await client.query(`DROP TABLE IF EXISTS ${quoteIdent(old)}`);
      await client.query(`ALTER TABLE ${quoteIdent(live)} RENAME TO ${quoteIdent(old)}`);
      await client.query(`ALTER TABLE ${quoteIdent(shadow)} RENAME TO ${quoteIdent(live)}`);
      await client.query(`DROP TABLE ${quoteIdent(old)}`);
      await renameIndexesLike(client, live, liveIndexes);
      await restoreFillfactor(client, live, liveFillfactor);
      const final = position && livePosition ? maxPosition(position, livePosition) : (position ?? livePosition);
      if (final) await deps.checkpoints.save(projection.name, final, client);
      await deps.checkpoints.reset(shadowConsumer, client);
      await client.query('COMMIT');
      return { events, position: final };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      // 55P03: lock_not_available (the lock timeout); 40P01: deadlock detected.
      const code = (error as { code?: string }).code;
      if ((code === '55P03' || code === '40P01') && attempt < 5) continue;
      throw error;
    }
  }
}

/** Locks (creating when absent) a consumer's checkpoint row; returns its position. */
export async function lockCheckpoint(client: PoolClient, consumer: string, mode: 'UPDATE' | 'SHARE'): Promise<Position | undefined> {
  await client.query(
    `INSERT INTO es_checkpoints (consumer, commit_position, prepare_position) VALUES ($1, -1, -1)
     ON CONFLICT (consumer) DO NOTHING`,
    [consumer],
  );
  const { rows } = await client.query<{ commit_position: string; prepare_position: string }>(
    `SELECT commit_position, prepare_position FROM es_checkpoints WHERE consumer = $1 FOR ${mode}`,
    [consumer],
  );
  if (!rows[0] || BigInt(rows[0].commit_position) < 0n) return undefined;
  return { commit: BigInt(rows[0].commit_position), prepare: BigInt(rows[0].prepare_position) };
}

/**
 * A table shaped like `source` (`LIKE … INCLUDING ALL`) for folding into. It leaves a third of each
 * page free while it fills: a fold updates rows over and over, and the free room makes those updates
 * HOT (no new index entries), which is most of their cost. The swap restores the live setting.
 */
export async function createCopyTable(db: Pick<Pool, 'query'>, source: string, target: string): Promise<void> {
  await db.query(`CREATE TABLE ${quoteIdent(target)} (LIKE ${quoteIdent(source)} INCLUDING ALL) WITH (fillfactor = 70)`);
}

async function fillfactorOf(client: PoolClient, table: string): Promise<string | undefined> {
  const { rows } = await client.query<{ option: string | null }>(
    `SELECT (SELECT o FROM unnest(c.reloptions) AS o WHERE o LIKE 'fillfactor=%') AS option FROM pg_class c WHERE c.oid = to_regclass($1)`,
    [quoteIdent(table)],
  );
  return rows[0]?.option?.split('=')[1];
}

async function restoreFillfactor(client: PoolClient, table: string, fillfactor: string | undefined): Promise<void> {
  if (fillfactor && /^\d+$/.test(fillfactor)) await client.query(`ALTER TABLE ${quoteIdent(table)} SET (fillfactor = ${fillfactor})`);
  else await client.query(`ALTER TABLE ${quoteIdent(table)} RESET (fillfactor)`);
}

interface IndexInfo {
  name: string;
  signature: string;
}

async function indexesOf(client: PoolClient, table: string): Promise<IndexInfo[]> {
  const { rows } = await client.query<{ name: string; def: string }>(
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = to_regclass($1) ORDER BY c.relname`,
    [quoteIdent(table)],
  );
  return rows.map((r) => ({ name: r.name, signature: indexSignature(r.def) }));
}

/** `CREATE UNIQUE INDEX x ON public.t USING btree (a, b)` → `UNIQUE USING btree (a, b)`. */
export function indexSignature(definition: string): string {
  const name = '(?:"(?:[^"]|"")+"|[^\\s."]+)';
  const match = new RegExp(`^CREATE (UNIQUE )?INDEX ${name} ON (?:ONLY )?(?:${name}\\.)?${name} (.*)$`, 's').exec(definition);
  return match ? `${match[1] ?? ''}${match[2]}` : definition;
}

/**
 * `LIKE … INCLUDING ALL` names the copy's indexes after the copy; once the old table is gone its
 * index names are free again, and the new table takes them, so each swap leaves the schema as the
 * migrations made it.
 */
async function renameIndexesLike(client: PoolClient, table: string, wanted: IndexInfo[]): Promise<void> {
  const current = await indexesOf(client, table);
  const free = [...wanted];
  for (const index of current) {
    const at = free.findIndex((w) => w.signature === index.signature);
    if (at === -1) continue;
    const [target] = free.splice(at, 1);
    if (target.name !== index.name) {
      await client.query(`ALTER INDEX ${quoteIdent(index.name)} RENAME TO ${quoteIdent(target.name)}`);
    }
  }
}

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
  const { batchSize, until } = options;
  const filter = { eventTypes: projection.eventTypes };
  const read = (after: Position | undefined) => deps.eventStore.readAll({ fromPosition: after, filter, limit: batchSize });
  const cache = new RowCache(client, projection, table, options.fromEmptyTable ? new KeyFilter() : undefined);
  const maxDirty = batchSize * 4;
  const maxPages = 20;
  const capacity = maxDirty * 2;
  // Flushes run on their own connection, so that the next pages are read and folded meanwhile.
  const writer = await deps.pool.connect();

  let flushed = from;
  let folded = from;
  let events = 0;
  let pagesSinceFlush = 0;
  let flushes = 0;
  let nextAnalyze = 1;
  let inflight: Promise<void> | undefined;

  const write = async (plan: FlushPlan, at: Position | undefined): Promise<void> => {
    await writer.query('BEGIN');
    try {
      // A lost commit on a crash only means those events are folded again from the checkpoint.
      await writer.query('SET LOCAL synchronous_commit = off');
      await writePlan(writer, plan);
      if (options.checkpoint && at) await deps.checkpoints.save(options.checkpoint, at, writer);
      await writer.query('COMMIT');
    } catch (error) {
      await writer.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    flushed = at;
    flushes++;
    if (options.analyze && flushes === nextAnalyze) {
      nextAnalyze *= 2;
      await writer.query(`ANALYZE ${quoteIdent(table)}`);
    }
  };

  /** Starts writing what has changed (after the previous flush has committed). */
  const flush = async (): Promise<void> => {
    await inflight;
    if (pagesSinceFlush === 0) return;
    const plan = cache.takeDirty(flushes + 1);
    pagesSinceFlush = 0;
    const started = write(plan, folded);
    // Awaited at the next flush or at the end; a failure surfaces there.
    started.catch(() => undefined);
    inflight = started;
  };

  let next: Promise<RecordedEvent[]> | undefined = read(from);
  try {
    while (next) {
      if (options.signal?.aborted) {
        await flush();
        await inflight;
        return { events, position: flushed, aborted: true };
      }
      let page = await next;
      next = undefined;
      let more = page.length === batchSize;
      if (until && page.length > 0 && comparePositions(page[page.length - 1].position, until) > 0) {
        page = page.filter((e) => comparePositions(e.position, until) <= 0);
        more = false;
      }
      if (page.length === 0) break;
      const last = page[page.length - 1].position;
      if (more) next = read(last);
      // Rows the table has committed may leave the cache (between applies, never during one).
      cache.trim(capacity, flushes);
      await cache.apply(page);
      folded = last;
      events += page.length;
      pagesSinceFlush++;
      if (cache.dirty >= maxDirty || pagesSinceFlush >= maxPages) await flush();
      options.onBatch?.(page.length, last);
    }
    await flush();
    await inflight;
    return { events, position: flushed, aborted: false };
  } finally {
    // Never leave a read or a write running against a pool the caller may be about to close.
    await next?.catch(() => undefined);
    await inflight?.catch(() => undefined);
    writer.release();
  }
}

interface CachedRow {
  keyValues: Record<string, string>;
  row: JsonRow | null;
  /** Whether the table holds a row for this key (as of the last read or flush). */
  stored: boolean;
  dirty: boolean;
  /** Number of the flush that last wrote the row (0: never written by this fold). */
  writtenBy: number;
}

/** Rows of one table by key, folded in memory and written back in bulk. See `foldHistory`. */
class RowCache {
  private readonly rows = new Map<string, CachedRow>();
  private readonly columns: string[];
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
  ) {
    this.columns = Object.keys(projection.table.columns);
  }

  async apply(events: readonly RecordedEvent[]): Promise<void> {
    const { projection } = this;
    const relevant: Array<{ key: string; event: RecordedEvent }> = [];
    const missing = new Map<string, Record<string, string>>();
    for (const raw of events) {
      if (!projection.eventTypes.includes(raw.type)) continue;
      const event = upcast(raw);
      const keyValues = projection.keyOf(event);
      if (!keyValues) continue;
      const key = keyString(projection, keyValues);
      relevant.push({ key, event });
      if (this.rows.has(key) || missing.has(key)) continue;
      if (this.written && !this.written.mightContain(key)) this.rows.set(key, { keyValues, row: null, stored: false, dirty: false, writtenBy: 0 });
      else missing.set(key, keyValues);
    }
    if (missing.size > 0) await this.load(missing);
    for (const { key, event } of relevant) {
      const entry = this.rows.get(key) as CachedRow;
      entry.row = projection.evolve(entry.row, event);
      if (!entry.dirty) {
        entry.dirty = true;
        this.dirty++;
      }
    }
  }

  private async load(missing: Map<string, Record<string, string>>): Promise<void> {
    const { key, columns } = this.projection.table;
    const keyList = [...missing.values()];
    const { rows } = await this.client.query<{ row: JsonRow }>(
      `SELECT to_jsonb(t) AS row FROM ${quoteIdent(this.table)} t
         JOIN unnest(${key.map((k, i) => `$${i + 1}::${columns[k]}[]`).join(', ')}) AS k(${key.map(quoteIdent).join(', ')})
           ON ${key.map((k) => `t.${quoteIdent(k)} = k.${quoteIdent(k)}`).join(' AND ')}`,
      key.map((k) => keyList.map((values) => values[k])),
    );
    for (const { row } of rows) {
      const k = keyString(this.projection, row);
      const keyValues = missing.get(k);
      if (keyValues) this.rows.set(k, { keyValues, row, stored: true, dirty: false, writtenBy: 0 });
    }
    for (const [k, keyValues] of missing) {
      if (!this.rows.has(k)) this.rows.set(k, { keyValues, row: null, stored: false, dirty: false, writtenBy: 0 });
    }
  }

  /**
   * Takes every changed row for writing: builds the statements' parameters now (later changes to a
   * row make it dirty again, for the next flush) and records the rows as written.
   */
  takeDirty(flush: number): FlushPlan {
    const { key, columns } = this.projection.table;
    const upserts: CachedRow[] = [];
    const deletes: CachedRow[] = [];
    for (const entry of this.rows.values()) {
      if (!entry.dirty) continue;
      entry.dirty = false;
      entry.writtenBy = flush;
      if (entry.row) upserts.push(entry);
      else if (entry.stored) deletes.push(entry);
    }
    this.dirty = 0;
    const plan: FlushPlan = {
      table: this.table,
      columns: this.columns,
      types: this.columns.map((c) => columns[c]),
      key,
      keyTypes: key.map((k) => columns[k]),
      deletes: deletes.length > 0 ? JSON.stringify(deletes.map((d) => d.keyValues)) : undefined,
    };
    const types = plan.types;
    const inserts = upserts.filter((u) => !u.stored);
    const updates = upserts.filter((u) => u.stored);
    if (types.every((t) => COPYABLE_TYPES.has(t))) {
      plan.copyInserts = copyLines(inserts, this.columns, types);
      plan.copyUpdates = copyLines(updates, this.columns, types);
    } else {
      plan.inserts = rowsJson(inserts);
      plan.updates = rowsJson(updates);
    }
    for (const entry of upserts) {
      entry.stored = true;
      this.written?.add(keyString(this.projection, entry.keyValues));
    }
    for (const entry of deletes) entry.stored = false;
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

interface FlushPlan {
  table: string;
  columns: readonly string[];
  types: readonly string[];
  key: readonly string[];
  keyTypes: readonly string[];
  /** JSON arrays of key objects and of rows, converted by PostgreSQL as `applyBatch`'s are. */
  deletes?: string;
  /** Rows the table does not have (only this fold writes it): a plain INSERT, the cheapest write. */
  inserts?: string;
  /** Rows the table has. */
  updates?: string;
  /**
   * The same rows as COPY text (set when every column type has a plain text form): written with
   * COPY, which costs a fraction of jsonb_to_recordset's parse of one large JSON parameter.
   */
  copyInserts?: string[];
  copyUpdates?: string[];
}

/** Column types whose COPY text form is `String(value)` (jsonb: its JSON). Others use the JSON path. */
const COPYABLE_TYPES = new Set(['text', 'uuid', 'integer', 'bigint', 'jsonb', 'timestamptz', 'boolean']);
const COPY_CHUNK_ROWS = 1000;

function copyLines(entries: CachedRow[], columns: readonly string[], types: readonly string[]): string[] | undefined {
  if (entries.length === 0) return undefined;
  const chunks: string[] = [];
  for (let at = 0; at < entries.length; at += COPY_CHUNK_ROWS) {
    let chunk = '';
    for (const entry of entries.slice(at, at + COPY_CHUNK_ROWS)) {
      const row = entry.row as JsonRow;
      chunk +=
        columns
          .map((c, i) => {
            const v = row[c];
            if (v === null || v === undefined) return '\\N';
            if (types[i] === 'jsonb') return copyField(JSON.stringify(v));
            return copyField(v instanceof Date ? v.toISOString() : String(v));
          })
          .join('\t') + '\n';
    }
    chunks.push(chunk);
  }
  return chunks;
}

function rowsJson(entries: CachedRow[]): string | undefined {
  return entries.length > 0 ? JSON.stringify(entries.map((e) => e.row)) : undefined;
}

/** A DELETE, an upsert and an INSERT, in the caller's transaction. */
async function writePlan(db: PoolClient, plan: FlushPlan): Promise<void> {
  const keyNames = plan.key.map(quoteIdent);
  const join = keyNames.map((k) => `t.${k} = k.${k}`).join(' AND ');
  if (plan.deletes) {
    const keyColumns = plan.key.map((k, i) => `${quoteIdent(k)} ${plan.keyTypes[i]}`).join(', ');
    await db.query(`DELETE FROM ${quoteIdent(plan.table)} t USING jsonb_to_recordset($1::jsonb) AS k(${keyColumns}) WHERE ${join}`, [plan.deletes]);
  }
  const list = plan.columns.map(quoteIdent).join(', ');
  const definitions = plan.columns.map((c, i) => `${quoteIdent(c)} ${plan.types[i]}`).join(', ');
  if (plan.updates) {
    const updates = plan.columns.filter((c) => !plan.key.includes(c)).map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
    await db.query(
      `INSERT INTO ${quoteIdent(plan.table)} (${list})
       SELECT ${list} FROM jsonb_to_recordset($1::jsonb) AS x(${definitions})
       ON CONFLICT (${keyNames.join(', ')}) DO ${updates.length ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING'}`,
      [plan.updates],
    );
  }
  if (plan.inserts) {
    await db.query(`INSERT INTO ${quoteIdent(plan.table)} (${list}) SELECT ${list} FROM jsonb_to_recordset($1::jsonb) AS x(${definitions})`, [
      plan.inserts,
    ]);
  }
  if (plan.copyUpdates) {
    // Staged with COPY in a temporary table (gone at commit), then upserted from it.
    const staging = 'fold_staging';
    const updates = plan.columns.filter((c) => !plan.key.includes(c)).map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
    await db.query(`CREATE TEMPORARY TABLE ${staging} (${definitions}) ON COMMIT DROP`);
    await copyIn(db, staging, plan.columns.map(quoteIdent), plan.copyUpdates);
    await db.query(
      `INSERT INTO ${quoteIdent(plan.table)} (${list}) SELECT ${list} FROM ${staging}
       ON CONFLICT (${keyNames.join(', ')}) DO ${updates.length ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING'}`,
    );
  }
  if (plan.copyInserts) await copyIn(db, quoteIdent(plan.table), plan.columns.map(quoteIdent), plan.copyInserts);
}

/**
 * A Bloom filter over keys: `mightContain` is false only for keys never added. Its size is fixed
 * (4 MiB), so memory stays flat; past a few million keys it answers "maybe" more often, which costs
 * lookups, never correctness.
 */
export class KeyFilter {
  private readonly bits: Uint32Array;
  private readonly mask: number;

  constructor(log2Bits = 25) {
    this.bits = new Uint32Array(2 ** (log2Bits - 5));
    this.mask = 2 ** log2Bits - 1;
  }

  add(key: string): void {
    const [h1, h2] = hashes(key);
    for (let i = 0; i < 4; i++) {
      const bit = (h1 + i * h2) & this.mask;
      this.bits[bit >>> 5] |= 1 << (bit & 31);
    }
  }

  mightContain(key: string): boolean {
    const [h1, h2] = hashes(key);
    for (let i = 0; i < 4; i++) {
      const bit = (h1 + i * h2) & this.mask;
      if ((this.bits[bit >>> 5] & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** Two independent 32-bit string hashes (FNV-1a and a multiplicative one) for double hashing. */
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return [a >>> 0, (b | 1) >>> 0];
}

/**
 * How many of the projection's events lie after `after` (and up to `upTo`). Counted in SQL when the
 * events are in PostgreSQL; with another store, by paging up to `pageLimit` pages, else unknown.
 */
export async function countMatchingEvents(
  deps: ProjectionAdminDeps,
  eventTypes: readonly string[],
  after: Position | undefined,
  options: { upTo?: Position; pageLimit?: number } = {},
): Promise<number | undefined> {
  if (deps.eventStore instanceof PostgresEventStore) {
    const params: unknown[] = [eventTypes];
    const conditions = ['event_type = ANY($1::text[])', 'transaction_id < pg_snapshot_xmin(pg_current_snapshot())'];
    if (after) {
      params.push(after.commit.toString(), after.prepare.toString());
      conditions.push(`(transaction_id, global_position) > ($${params.length - 1}::xid8, $${params.length}::bigint)`);
    }
    if (options.upTo) {
      params.push(options.upTo.commit.toString(), options.upTo.prepare.toString());
      conditions.push(`(transaction_id, global_position) <= ($${params.length - 1}::xid8, $${params.length}::bigint)`);
    }
    const { rows } = await deps.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM es_events WHERE ${conditions.join(' AND ')}`, params);
    return Number(rows[0].n);
  }
  const pageLimit = options.pageLimit ?? 0;
  let count = 0;
  let position = after;
  for (let pages = 0; pages < pageLimit; pages++) {
    const page = await deps.eventStore.readAll({ fromPosition: position, filter: { eventTypes }, limit: DEFAULT_BATCH_SIZE });
    const within = options.upTo ? page.filter((e) => comparePositions(e.position, options.upTo as Position) <= 0) : page;
    count += within.length;
    if (page.length < DEFAULT_BATCH_SIZE || within.length < page.length) return count;
    position = page[page.length - 1].position;
  }
  return undefined;
}

export interface LockHolder {
  pid: number;
  application_name: string | null;
  client_addr: string | null;
}

/** Who holds the session advisory lock `hashtextextended(name, 0)` in this database, if anyone. */
export async function advisoryLockHolder(db: Pick<Pool, 'query'>, lockName: string): Promise<LockHolder | undefined> {
  const { rows } = await db.query<{ pid: number; application_name: string | null; client_addr: string | null }>(
    `SELECT l.pid, a.application_name, host(a.client_addr) AS client_addr
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0)
      LIMIT 1`,
    [lockName],
  );
  return rows[0];
}

/** Takes a session advisory lock on a dedicated connection, or answers undefined when it is held. */
export async function tryAdvisoryLock(pool: Pool, lockName: string): Promise<{ release(): Promise<void> } | undefined> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [lockName]);
    if (!rows[0].locked) {
      client.release();
      return undefined;
    }
  } catch (error) {
    client.release(true);
    throw error;
  }
  return {
    release: async () => {
      try {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockName]);
        client.release();
      } catch {
        // Dropping the connection releases the lock as surely.
        client.release(true);
      }
    },
  };
}

export async function tableExists(db: Pick<Pool, 'query'>, table: string): Promise<boolean> {
  const { rows } = await db.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [quoteIdent(table)]);
  return rows[0].oid !== null;
}

export function quoteIdent(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
