import { RecordedEvent } from '../event-store/event-store.port';

export type JsonRow = Record<string, unknown>;

/** A read-model table: its key columns and every column's PostgreSQL type, in table order. */
export interface TableSpec {
  name: string;
  key: readonly string[];
  columns: Readonly<Record<string, string>>;
}

/**
 * A read model where each event changes at most one row, found by key. Rows are plain JSON objects
 * with the table's column names; `evolve` returns the new row, or null to delete it. Because the fold
 * is per row and pure, the runner can apply a whole batch with one read and one write per table.
 */
export interface RowProjection {
  /** Consumer name: checkpoint, advisory lock and CLI argument. */
  readonly name: string;
  readonly eventTypes: readonly string[];
  readonly table: TableSpec;
  keyOf(event: RecordedEvent): Record<string, string> | undefined;
  evolve(row: JsonRow | null, event: RecordedEvent): JsonRow | null;
}

export function keyString(projection: RowProjection, key: Record<string, unknown>): string {
  return JSON.stringify(projection.table.key.map((k) => key[k]));
}
