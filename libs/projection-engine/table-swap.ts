import { PoolClient } from 'pg';
import { quoteIdent } from '../database/sql';
import { createTableStatements, renameIndexStatements } from '../database/table-ddl';
import { lockCheckpoint } from '../event-store/consumers/checkpoint-store';
import { Position, comparePositions, maxPosition } from '../event-store/position';
import { ProjectionAdminDeps } from './admin-deps';
import { applyBatch } from './row-projection-writer';
import { inlineLockName, isInline } from './inline-projections';
import { RowProjection } from './row-projection';

/**
 * A copy of the projection's table, from its declaration, to fold into. It leaves a third of each
 * page free while it fills: a fold updates rows over and over, and the free room makes those updates
 * HOT (no new index entries), which is most of their cost. The swap restores the declared setting.
 */
export async function createFoldTable(client: PoolClient, projection: RowProjection, name: string): Promise<void> {
  for (const statement of createTableStatements(projection.table, name, { fillfactor: 70 })) await client.query(statement);
}

/**
 * Applies the projection's events after `from` to `table`, in the caller's transaction, up to the
 * head of the log (or `upTo`). Returns how many and the last position applied.
 */
export async function applyPending(
  deps: ProjectionAdminDeps,
  client: PoolClient,
  projection: RowProjection,
  table: string,
  from: Position | undefined,
  batchSize: number,
  upTo?: Position,
  beyondOpenTransactions = false,
): Promise<{ events: number; position: Position | undefined }> {
  let position = from;
  let events = 0;
  for (;;) {
    const filter = { eventTypes: projection.eventTypes };
    const page = await deps.eventStore.readAll({ fromPosition: position, filter, limit: batchSize, beyondOpenTransactions });
    const within = upTo ? page.filter((e) => comparePositions(e.position, upTo) <= 0) : page;
    if (within.length === 0) break;
    await applyBatch(client, projection, table, within);
    events += within.length;
    position = within[within.length - 1].position;
    if (within.length < batchSize) break;
  }
  return { events, position };
}

/**
 * For a read model written inline: takes its lock exclusively in the caller's transaction, which waits
 * for every append writing it to commit and holds back the next. True when it did (the caller then
 * reads the log beyond open transactions: every event of the read model is committed).
 */
export async function excludeInlineWriters(deps: ProjectionAdminDeps, client: PoolClient, projection: RowProjection): Promise<boolean> {
  if (!isInline(deps.eventStore, projection)) return false;
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [inlineLockName(projection)]);
  return true;
}

/**
 * Swaps the shadow table (folded up to the `shadowConsumer` checkpoint) in for the live one, in one
 * transaction. Locking the live checkpoint row first is what makes it safe: a live batch locks that
 * same row before it touches the table, so none can commit between the catch-up and the rename, and
 * any batch waiting on the lock finds the new checkpoint and skips what is done. Inline writers are
 * held off the same way by their lock (`excludeInlineWriters`). A lock timeout or a
 * deadlock is retried (5 attempts).
 */
export async function swapIn(
  deps: ProjectionAdminDeps,
  client: PoolClient,
  projection: RowProjection,
  tables: { shadow: string; shadowConsumer: string },
  options: { batchSize: number; lockTimeoutMs: number },
): Promise<{ events: number; position: Position | undefined }> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(options.lockTimeoutMs))}`);
      const inline = await excludeInlineWriters(deps, client, projection);
      const livePosition = await lockCheckpoint(client, projection.name, 'UPDATE');
      const from = await deps.checkpoints.load(tables.shadowConsumer, client);
      const caughtUp = await applyPending(deps, client, projection, tables.shadow, from, options.batchSize, undefined, inline);
      await replaceTable(client, projection, tables.shadow);
      const position = caughtUp.position && livePosition ? maxPosition(caughtUp.position, livePosition) : (caughtUp.position ?? livePosition);
      if (position) await deps.checkpoints.save(projection.name, position, client);
      await deps.checkpoints.reset(tables.shadowConsumer, client);
      await client.query('COMMIT');
      return { events: caughtUp.events, position };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      // 55P03: lock_not_available (the lock timeout); 40P01: deadlock detected.
      const code = (error as { code?: string }).code;
      if ((code === '55P03' || code === '40P01') && attempt < 5) continue;
      throw error;
    }
  }
}

/** Drops the live table and gives the shadow its name, its index names and the declared storage. */
async function replaceTable(client: PoolClient, projection: RowProjection, shadow: string): Promise<void> {
  const live = projection.table.name;
  const old = `${live}__old`;
  await client.query(`DROP TABLE IF EXISTS ${quoteIdent(old)}`);
  await client.query(`ALTER TABLE ${quoteIdent(live)} RENAME TO ${quoteIdent(old)}`);
  await client.query(`ALTER TABLE ${quoteIdent(shadow)} RENAME TO ${quoteIdent(live)}`);
  await client.query(`DROP TABLE ${quoteIdent(old)}`);
  for (const statement of renameIndexStatements(projection.table, shadow, live)) await client.query(statement);
  await client.query(`ALTER TABLE ${quoteIdent(live)} RESET (fillfactor)`);
}
