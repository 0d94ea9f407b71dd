import { PoolClient } from 'pg';
import { RecordedEvent } from '../event-store.port';

/**
 * Read models a PostgreSQL append writes in its own transaction, as Marten's and Emmett's inline
 * projections do: once the append commits, every read of those tables reflects it, on any replica.
 * Implemented by the projection engine (`InlineProjections`); the store only calls it.
 */
export interface InlineProjector {
  /** Consumer names of the read models written inline. */
  readonly names: readonly string[];
  /**
   * One parameterless statement taking, in a fixed order, the shared locks of the read models these
   * event types feed (a rebuild's swap takes them exclusively), or undefined when they feed none.
   */
  lockStatement(eventTypes: readonly string[]): string | undefined;
  /**
   * Reads (and locks) the rows the appended events touch, on the append's client and transaction, and
   * returns the parameterless statements that write them: the store sends them with its COMMIT.
   */
  apply(client: PoolClient, events: readonly RecordedEvent[]): Promise<string[]>;
}
