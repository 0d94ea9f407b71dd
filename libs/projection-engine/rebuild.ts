import { PoolClient } from 'pg';
import { tryAdvisoryLock } from '../database/advisory-lock';
import { tableExists } from '../database/declared-tables';
import { quoteIdent } from '../database/sql';
import { Position, encodePosition } from '../event-store/position';
import { DEFAULT_BATCH_SIZE, ProjectionAdminDeps } from './admin-deps';
import { countMatchingEvents } from './event-count';
import { foldHistory } from './fold-history';
import { RowProjection } from './row-projection';
import { createFoldTable, swapIn } from './table-swap';

/**
 * Rebuilds a projection's table from the whole history without taking the read model offline.
 *
 * The history is folded into a shadow table (`<table>__rebuild`, created from the projection's
 * declaration) in pages of events (see `foldHistory`); each write of folded rows commits in one
 * transaction with the shadow checkpoint (`<name>__rebuild`), so an interrupted rebuild resumes where
 * it stopped when run again. Memory stays flat: a page or two of events and a bounded row cache,
 * however long the history.
 *
 * Once the shadow has caught up with the head, one transaction swaps it in (see `swapIn`). The live
 * projection then skips, by its checkpoint, every event the rebuild already applied.
 */

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

/** Another rebuild (or verify) of the same projection holds its lock. */
export class ProjectionBusy extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'ProjectionBusy';
  }
}

export const shadowTableOf = (projection: RowProjection): string => `${projection.table.name}__rebuild`;
export const rebuildConsumerOf = (projection: RowProjection): string => `${projection.name}__rebuild`;

export async function rebuildProjection(deps: ProjectionAdminDeps, projection: RowProjection, options: RebuildOptions = {}): Promise<RebuildReport> {
  const guard = await tryAdvisoryLock(deps.pool, `rebuild:${projection.name}`);
  if (!guard) throw new ProjectionBusy(`A rebuild of ${projection.name} is already running.`);
  const client = await deps.pool.connect();
  try {
    return await rebuildHolding(deps, client, projection, options);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
    await guard.release();
  }
}

async function rebuildHolding(deps: ProjectionAdminDeps, client: PoolClient, projection: RowProjection, options: RebuildOptions): Promise<RebuildReport> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const shadow = shadowTableOf(projection);
  const shadowConsumer = rebuildConsumerOf(projection);
  const started = Date.now();
  const live = projection.table.name;
  if (!(await tableExists(client, live))) throw new Error(`Table ${live} of projection ${projection.name} does not exist.`);
  const { from, resumed } = await startOrResume(deps, client, projection);

  const total = await countMatchingEvents(deps.eventStore, projection.eventTypes, from);
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
  if (folded.aborted) return report(projection.name, processed, started, resumed, true, null);

  // Fresh statistics before the table starts serving queries.
  await client.query(`ANALYZE ${quoteIdent(shadow)}`);
  const swapped = await swapIn(deps, client, projection, { shadow, shadowConsumer }, { batchSize, lockTimeoutMs: options.swapLockTimeoutMs ?? 10_000 });
  processed += swapped.events;
  options.onProgress?.(progress());
  return report(projection.name, processed, started, resumed, false, swapped.position ? encodePosition(swapped.position) : null);
}

/** Resumes an interrupted rebuild (its shadow table and checkpoint are there), or starts an empty shadow. */
async function startOrResume(deps: ProjectionAdminDeps, client: PoolClient, projection: RowProjection): Promise<{ from: Position | undefined; resumed: boolean }> {
  const shadow = shadowTableOf(projection);
  const shadowConsumer = rebuildConsumerOf(projection);
  const from = await deps.checkpoints.load(shadowConsumer, client);
  if (from !== undefined && (await tableExists(client, shadow))) return { from, resumed: true };
  await client.query('BEGIN');
  await client.query(`DROP TABLE IF EXISTS ${quoteIdent(shadow)}`);
  await createFoldTable(client, projection, shadow);
  await deps.checkpoints.reset(shadowConsumer, client);
  await client.query('COMMIT');
  return { from: undefined, resumed: false };
}

function report(name: string, events: number, started: number, resumed: boolean, aborted: boolean, position: string | null): RebuildReport {
  const ms = Date.now() - started;
  return { name, events, seconds: Math.round(ms) / 1000, events_per_second: rate(events, ms), resumed, aborted, position };
}

function rate(events: number, ms: number): number {
  return ms > 0 ? Math.round((events * 1000) / ms) : events;
}
