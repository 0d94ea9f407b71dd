import { SqlPreparedStatement } from '../../database/prepared-statements';
import { ExpectedRevision, NewEvent, RecordedEvent } from '../event-store.port';

/**
 * Read models a PostgreSQL append writes in its own transaction, as Marten's and Emmett's inline
 * projections do: once the append commits, every read of those tables reflects it, on any replica.
 * Implemented by the projection engine (`InlineProjections`); the store only runs its statements.
 */
export interface InlineProjector {
  /** Consumer names of the read models written inline. */
  readonly names: readonly string[];
  /** What an append of these events must do inline, or undefined when they feed no such read model. */
  plan(streamName: string, events: readonly NewEvent[], expected: ExpectedRevision): InlinePlan | undefined;
}

/** Parameterless statements, so that the store can send several in one round trip. */
export interface InlinePlan {
  /** Statements the others EXECUTE, prepared once per connection. */
  prepared: readonly SqlPreparedStatement[];
  /** Takes the shared locks of the read models the events feed, in a fixed order (before the append): an EXECUTE of one of `prepared`. */
  locks: string;
  /** One per read model: reads and locks the rows the events touch (after the append). */
  reads(): string[];
  /** The writes that bring those rows (one list per read) up to the appended events. */
  writes(rowsPerRead: ReadonlyArray<ReadonlyArray<Record<string, unknown>>>, events: readonly RecordedEvent[]): string[];
  /**
   * The writes computed before the append from rows this process wrote last, when it knows every
   * row the events touch and the projections need nothing the log has yet to give (positions): each
   * changes its row only while the row is still the version it was computed from, and raises
   * otherwise, aborting the transaction. Sent with the append in one round trip (then `useKnown`).
   */
  known?: string[];
  /** The store sends `known` rather than `reads` and `writes`. */
  useKnown(): void;
  /** After `commit` (the transaction id) committed: the rows written, which the next plan may start from. */
  remember(commit: string): void;
  /** After a failed transaction: the rows it touched are no longer known. */
  forget(): void;
}
