import { RecordedEvent } from '../event-store/event-store.port';
import { TableSpec } from '../database/table-spec';
import { upcast } from '../domain/upcasters';

export type JsonRow = Record<string, unknown>;

/**
 * A read model where each event changes at most one row, found by key. Rows are plain JSON objects
 * with the table's column names; `evolve` returns the new row (a new object: a rebuild may still be
 * writing the one it was given), or null to delete it. Because the fold
 * is per row and pure, the runner can apply a whole batch with one read and one write per table.
 */
export interface RowProjection {
  /** Consumer name: checkpoint, advisory lock and CLI argument. */
  readonly name: string;
  readonly eventTypes: readonly string[];
  /** The table's one declaration: its DDL, writes and rebuilds all derive from it. */
  readonly table: TableSpec;
  /** From the event's stream name, type and data only: an inline write locks the row before the event has a position. */
  keyOf(event: RecordedEvent): Record<string, string> | undefined;
  evolve(row: JsonRow | null, event: RecordedEvent): JsonRow | null;
}

export function keyString(projection: RowProjection, key: Record<string, unknown>): string {
  return JSON.stringify(projection.table.key.map((k) => key[k]));
}

/** The projection's key columns of an event, with the key's string form; undefined when it has none. */
export function keyedEvent(projection: RowProjection, raw: RecordedEvent): { key: string; keyValues: Record<string, string>; event: RecordedEvent } | undefined {
  if (!projection.eventTypes.includes(raw.type)) return undefined;
  const event = upcast(raw);
  const keyValues = projection.keyOf(event);
  return keyValues ? { key: keyString(projection, keyValues), keyValues, event } : undefined;
}
