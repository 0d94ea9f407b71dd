import { PoolClient } from 'pg';
import { RecordedEvent } from '../event-store/event-store.port';
import { Position, comparePositions, encodePosition } from '../event-store/position';
import {
  DEFAULT_BATCH_SIZE,
  ProjectionAdminDeps,
  ProjectionBusy,
  advisoryLockHolder,
  countMatchingEvents,
  createCopyTable,
  foldHistory,
  lockCheckpoint,
  quoteIdent,
  tableExists,
  tryAdvisoryLock,
} from './rebuild';
import { applyBatch } from './row-projection-writer';
import { JsonRow, RowProjection } from './row-projection';

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

export interface RowDifference {
  /** The row's key columns. */
  key: Record<string, unknown>;
  /** The live row, or null when the live table lacks it. */
  live: JsonRow | null;
  /** The row the history gives, or null when the live table has a row it should not. */
  expected: JsonRow | null;
  /** Columns whose values differ (every column when a row is missing on one side). */
  columns: string[];
}

export interface ProjectionLag {
  /** The live checkpoint, null when the projection has not passed any event. */
  checkpoint: string | null;
  /** Where the live projection should be: the head of the log, or the position verified at. */
  expected_position: string | null;
  /** Matching events between the checkpoint and that position. */
  events_behind: number | null;
  /** Whether a replica holds the projection's consumer lock. */
  running: boolean;
}

export interface VerifyReport {
  name: string;
  table: string;
  /** False when the live projection could not be compared (it did not catch up in time). */
  verified: boolean;
  /** The log position both tables were compared at. */
  position: string | null;
  live_rows: number;
  expected_rows: number;
  differences: RowDifference[];
  lag: ProjectionLag | null;
}

export const scratchTableOf = (projection: RowProjection): string => `${projection.table.name}__verify`;

export async function verifyProjection(
  deps: ProjectionAdminDeps,
  projection: RowProjection,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const waitMs = options.waitMs ?? 10_000;
  const live = projection.table.name;
  const scratch = scratchTableOf(projection);
  const filter = { eventTypes: projection.eventTypes };

  const guard = await tryAdvisoryLock(deps.pool, `verify:${projection.name}`);
  if (!guard) throw new ProjectionBusy(`A verify of ${projection.name} is already running.`);
  const client = await deps.pool.connect();
  try {
    if (!(await tableExists(client, live))) throw new Error(`Table ${live} of projection ${projection.name} does not exist.`);
    const head = await deps.eventStore.headPosition();
    const running = (await advisoryLockHolder(deps.pool, `consumer:${projection.name}`)) !== undefined;
    const startCheckpoint = await deps.checkpoints.load(projection.name);

    // A stopped projection will not move: compare it where it stands and call the rest lag.
    let target = head;
    let lag: ProjectionLag | null = null;
    if (!running) {
      const pending = await firstEventAfter(deps, filter, startCheckpoint);
      if (pending && head && comparePositions(pending.position, head) <= 0) {
        target = startCheckpoint;
        lag = {
          checkpoint: startCheckpoint ? encodePosition(startCheckpoint) : null,
          expected_position: null,
          events_behind: (await countMatchingEvents(deps, projection.eventTypes, startCheckpoint, { upTo: head, pageLimit: 100 })) ?? null,
          running: false,
        };
      }
    }

    await client.query(`DROP TABLE IF EXISTS ${quoteIdent(scratch)}`);
    await createCopyTable(client, live, scratch);
    try {
      let position: Position | undefined;
      if (target) {
        const folded = await foldHistory(deps, client, projection, scratch, undefined, {
          batchSize,
          until: target,
          signal: options.signal,
          analyze: true,
          fromEmptyTable: true,
        });
        if (folded.aborted) throw new Error('verify aborted');
        position = folded.position;
      }
      if (lag) lag.expected_position = head ? encodePosition(head) : null;

      /** Not comparable at this position: the live projection is elsewhere, and by how much. */
      const unverified = async (checkpoint: Position | undefined, at: Position, isRunning: boolean): Promise<VerifyReport> => ({
        name: projection.name,
        table: live,
        verified: false,
        position: encodePosition(at),
        live_rows: 0,
        expected_rows: 0,
        differences: [],
        lag: {
          checkpoint: checkpoint ? encodePosition(checkpoint) : null,
          expected_position: encodePosition(at),
          events_behind: (await countMatchingEvents(deps, projection.eventTypes, checkpoint, { upTo: at, pageLimit: 100 })) ?? null,
          running: isRunning,
        },
      });

      // A running projection gets a bounded wait to reach the position the scratch table is at.
      if (running && position) {
        const deadline = Date.now() + waitMs;
        for (;;) {
          const checkpoint = await deps.checkpoints.load(projection.name);
          if (checkpoint && comparePositions(checkpoint, position) >= 0) break;
          if (Date.now() >= deadline || options.signal?.aborted) {
            return unverified(checkpoint, position, true);
          }
          await sleep(100);
        }
      }

      await client.query('BEGIN');
      try {
        const checkpoint = await lockCheckpoint(client, projection.name, 'SHARE');
        // The live projection may have gone on: bring the scratch table to the same position.
        if (checkpoint && (!position || comparePositions(checkpoint, position) > 0)) {
          for (;;) {
            const page = await deps.eventStore.readAll({ fromPosition: position, filter, limit: batchSize });
            const within = page.filter((e) => comparePositions(e.position, checkpoint) <= 0);
            if (within.length > 0) {
              await applyBatch(client, projection, scratch, within);
              position = within[within.length - 1].position;
            }
            if (within.length < batchSize) break;
          }
        }
        if (position && (!checkpoint || comparePositions(checkpoint, position) < 0)) {
          // The live checkpoint went backwards (a reset): nothing meaningful to compare.
          await client.query('ROLLBACK');
          return unverified(checkpoint, position, running);
        }
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
          lag,
        };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    } finally {
      await client.query(`DROP TABLE IF EXISTS ${quoteIdent(scratch)}`).catch(() => undefined);
    }
  } finally {
    client.release();
    await guard.release();
  }
}

async function firstEventAfter(
  deps: ProjectionAdminDeps,
  filter: { eventTypes: readonly string[] },
  after: Position | undefined,
): Promise<RecordedEvent | undefined> {
  const [event] = await deps.eventStore.readAll({ fromPosition: after, filter, limit: 1 });
  return event;
}

interface Column {
  name: string;
  type: string;
}

async function columnsOf(client: PoolClient, table: string): Promise<Column[]> {
  const { rows } = await client.query<Column>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [quoteIdent(table)],
  );
  return rows;
}

/**
 * Rows of `live` not in `expected` and rows of `expected` not in `live`, on every column, paired by
 * key: a changed row shows once with both versions, a missing or extra row with one side null.
 */
export async function diffTables(client: PoolClient, projection: RowProjection, live: string, expected: string): Promise<RowDifference[]> {
  const columns = await columnsOf(client, live);
  // `json` has no equality operator; compare it as jsonb.
  const list = columns.map((c) => (c.type === 'json' ? `${quoteIdent(c.name)}::jsonb AS ${quoteIdent(c.name)}` : quoteIdent(c.name))).join(', ');
  const key = projection.table.key;
  const on = key.map((k) => `l.${quoteIdent(k)} = e.${quoteIdent(k)}`).join(' AND ');
  const order = key.map((k) => `coalesce(l.${quoteIdent(k)}, e.${quoteIdent(k)})`).join(', ');
  const { rows } = await client.query<{ live: JsonRow | null; expected: JsonRow | null }>(
    `WITH live_only AS (SELECT ${list} FROM ${quoteIdent(live)} EXCEPT SELECT ${list} FROM ${quoteIdent(expected)}),
          expected_only AS (SELECT ${list} FROM ${quoteIdent(expected)} EXCEPT SELECT ${list} FROM ${quoteIdent(live)})
     SELECT CASE WHEN l IS NULL THEN NULL ELSE to_jsonb(l) END AS live,
            CASE WHEN e IS NULL THEN NULL ELSE to_jsonb(e) END AS expected
       FROM live_only l FULL JOIN expected_only e ON ${on}
      ORDER BY ${order}`,
  );
  const names = columns.map((c) => c.name);
  return rows.map(({ live: l, expected: e }) => {
    const source = (l ?? e) as JsonRow;
    return {
      key: Object.fromEntries(key.map((k) => [k, source[k]])),
      live: l,
      expected: e,
      columns: differingColumns(names, l, e),
    };
  });
}

/** Columns whose values differ between two rows; all of them when either row is missing. */
export function differingColumns(columns: readonly string[], a: JsonRow | null, b: JsonRow | null): string[] {
  if (!a || !b) return [...columns];
  return columns.filter((c) => JSON.stringify(a[c] ?? null) !== JSON.stringify(b[c] ?? null));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
