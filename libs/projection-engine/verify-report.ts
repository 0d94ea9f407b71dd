import { PoolClient } from 'pg';
import { quoteIdent } from '../database/sql';
import { JsonRow, RowProjection } from './row-projection';

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

/**
 * Rows of `live` not in `expected` and rows of `expected` not in `live`, on every declared column,
 * paired by key: a changed row shows once with both versions, a missing or extra row with one side null.
 */
export async function diffTables(client: PoolClient, projection: RowProjection, live: string, expected: string): Promise<RowDifference[]> {
  const { key, columns } = projection.table;
  const names = Object.keys(columns);
  // `json` has no equality operator; compare it as jsonb.
  const list = names.map((c) => (columns[c] === 'json' ? `${quoteIdent(c)}::jsonb AS ${quoteIdent(c)}` : quoteIdent(c))).join(', ');
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
  return rows.map(({ live: l, expected: e }) => {
    const source = (l ?? e) as JsonRow;
    return { key: Object.fromEntries(key.map((k) => [k, source[k]])), live: l, expected: e, columns: differingColumns(names, l, e) };
  });
}

/** Columns whose values differ between two rows; all of them when either row is missing. */
export function differingColumns(columns: readonly string[], a: JsonRow | null, b: JsonRow | null): string[] {
  if (!a || !b) return [...columns];
  return columns.filter((c) => JSON.stringify(a[c] ?? null) !== JSON.stringify(b[c] ?? null));
}
