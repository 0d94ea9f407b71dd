import { PoolClient } from 'pg';
import { advisoryLockHolder, tryAdvisoryLock } from '../database/advisory-lock';
import { tableExists } from '../database/declared-tables';
import { quoteIdent } from '../database/sql';
import { lockCheckpoint } from '../event-store/consumers/checkpoint-store';
import { waitUntil } from '../event-store/consumers/wait-until';
import { Position, comparePositions, encodePosition } from '../event-store/position';
import { DEFAULT_BATCH_SIZE, ProjectionAdminDeps } from './admin-deps';
import { countMatchingEvents } from './event-count';
import { foldHistory } from './fold-history';
import { ProjectionBusy } from './rebuild';
import { RowProjection } from './row-projection';
import { applyPending, createFoldTable, excludeInlineWriters } from './table-swap';
import { isInline } from './inline-projections';
import { ProjectionLag, VerifyReport, diffTables } from './verify-report';

export type { ProjectionLag, RowDifference, VerifyReport } from './verify-report';

/**
 * Checks a live read model against the history: folds the projection's events into a scratch table
 * (`<table>__verify`, dropped afterwards) up to a fixed position, waits (bounded) for the live
 * projection to reach that position, then compares the two tables in SQL, both ways, on every column.
 *
 * The comparison runs in a transaction that holds the live checkpoint row, so the live table cannot
 * move under it; if the live projection has gone further meanwhile, the scratch table is first
 * brought to the same position. A live projection that is not running and is behind is compared at
 * its own checkpoint, and its lag is reported as lag, not as row differences.
 */

export interface VerifyOptions {
  batchSize?: number;
  /** How long to wait for a running live projection to reach the verified position (default 10 s). */
  waitMs?: number;
  signal?: AbortSignal;
}

export const scratchTableOf = (projection: RowProjection): string => `${projection.table.name}__verify`;

export async function verifyProjection(deps: ProjectionAdminDeps, projection: RowProjection, options: VerifyOptions = {}): Promise<VerifyReport> {
  const guard = await tryAdvisoryLock(deps.pool, `verify:${projection.name}`);
  if (!guard) throw new ProjectionBusy(`A verify of ${projection.name} is already running.`);
  const client = await deps.pool.connect();
  const scratch = scratchTableOf(projection);
  try {
    const live = projection.table.name;
    if (!(await tableExists(client, live))) throw new Error(`Table ${live} of projection ${projection.name} does not exist.`);
    const plan = await planVerify(deps, projection);
    await client.query(`DROP TABLE IF EXISTS ${quoteIdent(scratch)}`);
    await createFoldTable(client, projection, scratch);
    return await verifyInto(deps, client, projection, plan, options);
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${quoteIdent(scratch)}`).catch(() => undefined);
    client.release();
    await guard.release();
  }
}

interface VerifyPlan {
  head: Position | undefined;
  running: boolean;
  /** The position to fold the history to. */
  target: Position | undefined;
  /** Set when a stopped projection is behind: it is compared at its checkpoint instead. */
  lag: ProjectionLag | null;
}

/** A stopped projection will not move: it is compared where it stands, and the rest is lag. */
async function planVerify(deps: ProjectionAdminDeps, projection: RowProjection): Promise<VerifyPlan> {
  const head = await deps.eventStore.headPosition();
  // Written in every append's transaction: never behind, whatever its runner's checkpoint says.
  if (isInline(deps.eventStore, projection)) return { head, running: true, target: head, lag: null };
  const running = (await advisoryLockHolder(deps.pool, `consumer:${projection.name}`)) !== undefined;
  if (running) return { head, running, target: head, lag: null };
  const checkpoint = await deps.checkpoints.load(projection.name);
  const [pending] = await deps.eventStore.readAll({ fromPosition: checkpoint, filter: { eventTypes: projection.eventTypes }, limit: 1 });
  if (!pending || !head || comparePositions(pending.position, head) > 0) return { head, running, target: head, lag: null };
  const lag: ProjectionLag = {
    checkpoint: checkpoint ? encodePosition(checkpoint) : null,
    expected_position: encodePosition(head),
    events_behind: (await countMatchingEvents(deps.eventStore, projection.eventTypes, checkpoint, { upTo: head, pageLimit: 100 })) ?? null,
    running: false,
  };
  return { head, running, target: checkpoint, lag };
}

async function verifyInto(
  deps: ProjectionAdminDeps,
  client: PoolClient,
  projection: RowProjection,
  plan: VerifyPlan,
  options: VerifyOptions,
): Promise<VerifyReport> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  let position: Position | undefined;
  if (plan.target) {
    const scratch = scratchTableOf(projection);
    const folded = await foldHistory(deps, client, projection, scratch, undefined, {
      batchSize,
      until: plan.target,
      signal: options.signal,
      analyze: true,
      fromEmptyTable: true,
    });
    if (folded.aborted) throw new Error('verify aborted');
    position = folded.position;
  }
  // A running projection gets a bounded wait to reach the position the scratch table is at.
  if (plan.running && position && !isInline(deps.eventStore, projection)) {
    const at = position;
    let checkpoint: Position | undefined;
    const reached = await waitUntil(
      async () => {
        checkpoint = await deps.checkpoints.load(projection.name);
        return checkpoint !== undefined && comparePositions(checkpoint, at) >= 0;
      },
      { timeoutMs: options.waitMs ?? 10_000, signal: options.signal },
    );
    if (!reached) return unverified(deps, projection, checkpoint, at, true);
  }
  return compareAt(deps, client, projection, position, plan, batchSize);
}

/** Compares the tables holding the live checkpoint row, with the scratch table brought to it first. */
async function compareAt(
  deps: ProjectionAdminDeps,
  client: PoolClient,
  projection: RowProjection,
  folded: Position | undefined,
  plan: VerifyPlan,
  batchSize: number,
): Promise<VerifyReport> {
  const scratch = scratchTableOf(projection);
  await client.query('BEGIN');
  try {
    if (await excludeInlineWriters(deps, client, projection)) {
      // Inline: the live table holds every committed event; bring the scratch table to all of them.
      const caughtUp = await applyPending(deps, client, projection, scratch, folded, batchSize, undefined, true);
      return await compared(client, projection, caughtUp.position ?? folded, plan);
    }
    const checkpoint = await lockCheckpoint(client, projection.name, 'SHARE');
    let position = folded;
    // The live projection may have gone on: bring the scratch table to the same position.
    if (checkpoint && (!position || comparePositions(checkpoint, position) > 0)) {
      position = (await applyPending(deps, client, projection, scratch, position, batchSize, checkpoint)).position ?? position;
    }
    if (position && (!checkpoint || comparePositions(checkpoint, position) < 0)) {
      // The live checkpoint went backwards (a reset): nothing meaningful to compare.
      await client.query('ROLLBACK');
      return await unverified(deps, projection, checkpoint, position, plan.running);
    }
    return await compared(client, projection, position, plan);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The comparison itself, committing the caller's transaction (which releases what it holds). */
async function compared(client: PoolClient, projection: RowProjection, position: Position | undefined, plan: VerifyPlan): Promise<VerifyReport> {
  const live = projection.table.name;
  const scratch = scratchTableOf(projection);
  const differences = await diffTables(client, projection, live, scratch);
  const counts = await client.query<{ live: string; expected: string }>(
    `SELECT (SELECT count(*) FROM ${quoteIdent(live)})::text AS live, (SELECT count(*) FROM ${quoteIdent(scratch)})::text AS expected`,
  );
  await client.query('COMMIT');
  return {
    name: projection.name,
    table: live,
    verified: true,
    position: position ? encodePosition(position) : null,
    live_rows: Number(counts.rows[0].live),
    expected_rows: Number(counts.rows[0].expected),
    differences,
    lag: plan.lag,
  };
}

/** Not comparable at this position: the live projection is elsewhere, and by how much. */
async function unverified(
  deps: ProjectionAdminDeps,
  projection: RowProjection,
  checkpoint: Position | undefined,
  at: Position,
  running: boolean,
): Promise<VerifyReport> {
  const behind = await countMatchingEvents(deps.eventStore, projection.eventTypes, checkpoint, { upTo: at, pageLimit: 100 });
  return {
    name: projection.name,
    table: projection.table.name,
    verified: false,
    position: encodePosition(at),
    live_rows: 0,
    expected_rows: 0,
    differences: [],
    lag: { checkpoint: checkpoint ? encodePosition(checkpoint) : null, expected_position: encodePosition(at), events_behind: behind ?? null, running },
  };
}
