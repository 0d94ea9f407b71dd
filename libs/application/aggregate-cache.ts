import { LoadedAggregate } from './snapshot-loader';

/**
 * Aggregates this process wrote lately, as their commands left them, so that the next command on one
 * of them can skip the load. An entry is a guess, never an answer: a command decided on it appends
 * with the entry's revision, so the store refuses the append if any writer (this process, another
 * replica, the installer) has moved the stream on since, and the command is then decided again on a
 * fresh load. The least recently used entries go first; a capacity of 0 keeps nothing.
 */
export class AggregateCache<State> {
  private readonly entries = new Map<string, LoadedAggregate<State>>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(streamName: string): LoadedAggregate<State> | undefined {
    const entry = this.entries.get(streamName);
    if (entry) {
      // Map iteration order is insertion order: re-inserting makes the entry the most recent.
      this.entries.delete(streamName);
      this.entries.set(streamName, entry);
    }
    return entry;
  }

  /**
   * Keeps `aggregate` unless the entry is already at a later revision: two commands on one stream may
   * finish in either order, and the later state is the one the next append can succeed on.
   */
  remember(streamName: string, aggregate: LoadedAggregate<State>): void {
    if (this.capacity === 0) return;
    const known = this.entries.get(streamName);
    if (known && known.revision > aggregate.revision) return;
    this.entries.delete(streamName);
    // The events a load read are not needed to decide: only the folded state is kept.
    this.entries.set(streamName, { ...aggregate, tail: [] });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  forget(streamName: string): void {
    this.entries.delete(streamName);
  }
}
