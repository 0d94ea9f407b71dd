import { Decider, SnapshotIdentity } from '../domain/decider';
import { upcast } from '../domain/upcasters';
import { EventStore, RecordedEvent } from '../event-store/event-store.port';
import { Position } from '../event-store/position';
import { AggregateSnapshot, SNAPSHOT_EVERY, SnapshotStore } from './aggregate-snapshots';
import { DomainEvent, eventsOf } from './stream-state';

type SnapshottedFold<State, Event> = Pick<Decider<unknown, State, Event>, 'evolve' | 'initialState'> & { snapshot: SnapshotIdentity };

/** A stream's state, the revision and id of its last event (-1 and null for none), and where the fold began. */
export interface LoadedAggregate<State> {
  state: State;
  revision: number;
  lastEventId: string | null;
  /** Log position of that last event (undefined for an empty stream). */
  position: Position | undefined;
  /** Revision of the snapshot the fold started from, -1 when it folded from the start. */
  snapshotRevision: number;
}

function foldFrom<State, Event extends DomainEvent>(
  decider: SnapshottedFold<State, Event>,
  start: State,
  recorded: readonly RecordedEvent[],
): State {
  let state = start;
  for (const event of eventsOf<Event>(recorded.map(upcast))) state = decider.evolve(state, event);
  return state;
}

/**
 * The stream folded from its snapshot plus the events after it, or from the start when there is no
 * usable snapshot. A snapshot at revision r is used only if the stream's event r is still the event it
 * was folded up to (same id): a stream deleted and written again, or a snapshot of another history,
 * is ignored rather than trusted, so a snapshot can make a load cheaper but never different.
 */
export async function loadAggregate<State, Event extends DomainEvent>(
  store: EventStore,
  snapshots: SnapshotStore,
  decider: SnapshottedFold<State, Event>,
  streamName: string,
): Promise<LoadedAggregate<State>> {
  const snapshot = await snapshots.read<State>(streamName, decider.snapshot);
  if (snapshot) {
    const fromSnapshot = await store.readStream(streamName, { fromRevision: snapshot.revision });
    const anchor = fromSnapshot[0];
    if (anchor && anchor.revision === snapshot.revision && anchor.id === snapshot.eventId) {
      const tail = fromSnapshot.slice(1);
      const last = fromSnapshot[fromSnapshot.length - 1];
      return { state: foldFrom(decider, snapshot.state, tail), revision: last.revision, lastEventId: last.id, position: last.position, snapshotRevision: snapshot.revision };
    }
  }
  const recorded = await store.readStream(streamName);
  const last = recorded[recorded.length - 1];
  return { state: foldFrom(decider, decider.initialState, recorded), revision: last?.revision ?? -1, lastEventId: last?.id ?? null, position: last?.position, snapshotRevision: -1 };
}

/**
 * Writes a new snapshot when `every` events or more were folded past the one the load started from.
 * Not awaited by the command: a failed or late write only leaves the older snapshot, which stays
 * correct, so the error goes to `onError` (the caller's logger) and nothing else.
 */
export function refreshSnapshotIfDue<State>(
  snapshots: SnapshotStore,
  fold: SnapshotIdentity,
  streamName: string,
  loaded: LoadedAggregate<State>,
  onError: (error: unknown) => void,
  every = SNAPSHOT_EVERY,
): void {
  if (loaded.lastEventId === null || loaded.revision - loaded.snapshotRevision < every) return;
  const snapshot: AggregateSnapshot<State> = { revision: loaded.revision, eventId: loaded.lastEventId, state: loaded.state };
  snapshots.write(streamName, fold, snapshot).catch(onError);
}
