import { Decider, SnapshotIdentity } from '../domain/decider';
import { upcast } from '../domain/upcasters';
import { EventStore, RecordedEvent } from '../event-store/event-store.port';
import { Position } from '../event-store/position';
import { AggregateSnapshot, LOG_READ_LIMIT, SNAPSHOT_EVERY, SnapshotStore } from './aggregate-snapshots';
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
  /** Latest `occurred_at` of the events folded (null for none): what a snapshot of this state records. */
  occurredUntil: string | null;
  /** The events read after the snapshot (all of them without one), upcast: what the load folded. */
  tail: readonly RecordedEvent[];
}

function later(a: string | null, b: string): string {
  return a === null || new Date(b).getTime() > new Date(a).getTime() ? b : a;
}

function foldOn<State, Event extends DomainEvent>(
  decider: SnapshottedFold<State, Event>,
  start: { state: State; occurredUntil: string | null },
  recorded: readonly RecordedEvent[],
): { state: State; occurredUntil: string | null; tail: RecordedEvent[] } {
  let { state, occurredUntil } = start;
  const tail = recorded.map(upcast);
  for (const event of eventsOf<Event>(tail)) state = decider.evolve(state, event);
  for (const event of tail) occurredUntil = later(occurredUntil, event.metadata.occurred_at);
  return { state, occurredUntil, tail };
}

function loaded<State>(folded: { state: State; occurredUntil: string | null; tail: RecordedEvent[] }, last: RecordedEvent | undefined, snapshotRevision: number): LoadedAggregate<State> {
  return { ...folded, revision: last?.revision ?? -1, lastEventId: last?.id ?? null, position: last?.position, snapshotRevision };
}

/**
 * The events from the snapshot's own revision on (at most up to `upToRevision`), when the stream's
 * event at that revision is still the one the snapshot was folded up to (same id); else undefined.
 * A stream deleted and written again, or a snapshot of another history, is ignored rather than
 * trusted, so a snapshot can make a load cheaper but never different.
 */
async function tailAfter(
  store: EventStore,
  streamName: string,
  snapshot: AggregateSnapshot<unknown>,
  upToRevision?: number,
): Promise<{ anchor: RecordedEvent; tail: RecordedEvent[] } | undefined> {
  const maxCount = upToRevision === undefined ? undefined : upToRevision - snapshot.revision + 1;
  const fromSnapshot = await store.readStream(streamName, { fromRevision: snapshot.revision, maxCount });
  const anchor = fromSnapshot[0];
  return anchor && anchor.revision === snapshot.revision && anchor.id === snapshot.eventId ? { anchor, tail: fromSnapshot.slice(1) } : undefined;
}

/**
 * The stream folded from its newest usable snapshot plus the events after it, or from the start when
 * there is none. With `upToRevision`, the state as it was after that event (an idempotent replay).
 */
export async function loadAggregate<State, Event extends DomainEvent>(
  store: EventStore,
  snapshots: SnapshotStore,
  decider: SnapshottedFold<State, Event>,
  streamName: string,
  upToRevision?: number,
): Promise<LoadedAggregate<State>> {
  const recent = upToRevision === undefined ? await loadRecent(store, snapshots, decider, streamName) : undefined;
  if (recent && 'current' in recent) return recent.current;
  const snapshot = recent ? recent.snapshot : await snapshots.read<State>(streamName, decider.snapshot, { maxRevision: upToRevision });
  const after = snapshot && (await tailAfter(store, streamName, snapshot, upToRevision));
  if (snapshot && after) {
    return loaded(foldOn(decider, snapshot, after.tail), after.tail[after.tail.length - 1] ?? after.anchor, snapshot.revision);
  }
  const recorded = await store.readStream(streamName, upToRevision === undefined ? {} : { maxCount: upToRevision + 1 });
  return loaded(foldOn(decider, { state: decider.initialState, occurredUntil: null }, recorded), recorded[recorded.length - 1], -1);
}

/**
 * Events read from the stream's end beside the snapshot: more than a snapshot's refresh interval,
 * so that they reach back to the snapshot (or to the stream's start) in all but rare cases.
 */
const RECENT_EVENTS = SNAPSHOT_EVERY + 14;

/**
 * The current state from the stream's last events: the whole stream when it is that short (most
 * streams: one query, no snapshot needed), else folded on from the snapshot when those events reach
 * back to its anchor. Else the snapshot it read (if any), which the caller folds on from instead.
 */
async function loadRecent<State, Event extends DomainEvent>(
  store: EventStore,
  snapshots: SnapshotStore,
  decider: SnapshottedFold<State, Event>,
  streamName: string,
): Promise<{ current: LoadedAggregate<State> } | { snapshot: AggregateSnapshot<State> | undefined }> {
  if (snapshots.readWithLog) {
    // The snapshot and the events from its revision on, in one statement.
    const { snapshot, events } = await snapshots.readWithLog<State>(streamName, decider.snapshot);
    // Cut at the limit (a long stream without a snapshot yet): the caller reads the rest from the snapshot or the start.
    if (events.length >= LOG_READ_LIMIT) return { snapshot };
    if (!snapshot) return { current: loaded(foldOn(decider, { state: decider.initialState, occurredUntil: null }, events), events[events.length - 1], -1) };
    const [anchor, ...tail] = events;
    if (anchor?.revision === snapshot.revision && anchor.id === snapshot.eventId) {
      return { current: loaded(foldOn(decider, snapshot, tail), events[events.length - 1], snapshot.revision) };
    }
    return { snapshot: undefined }; // a snapshot of another history: folded from the start instead
  }
  const recent = (await store.readStream(streamName, { direction: 'backwards', maxCount: RECENT_EVENTS })).reverse();
  const first = recent[0];
  if (!first || first.revision === 0) return { current: loaded(foldOn(decider, { state: decider.initialState, occurredUntil: null }, recent), recent[recent.length - 1], -1) };
  const snapshot = await snapshots.read<State>(streamName, decider.snapshot);
  const anchorAt = snapshot ? snapshot.revision - first.revision : -1;
  if (snapshot && anchorAt >= 0 && recent[anchorAt]?.id === snapshot.eventId) {
    const tail = recent.slice(anchorAt + 1);
    return { current: loaded(foldOn(decider, snapshot, tail), recent[recent.length - 1], snapshot.revision) };
  }
  return { snapshot };
}

/**
 * The stream as it was at `asOf`: the events whose `occurred_at` is not after it, folded in stream
 * order. Starts from the newest snapshot all of whose events had happened by then (so the fold is the
 * same as from the start) and filters the events after it, which keeps an event stamped out of
 * order (two replicas' clocks) exactly where a fold from the start would put it.
 */
export async function loadAggregateAsOf<State, Event extends DomainEvent>(
  store: EventStore,
  snapshots: SnapshotStore,
  decider: SnapshottedFold<State, Event>,
  streamName: string,
  asOf: Date,
): Promise<{ state: State; revision: number }> {
  const happened = (events: readonly RecordedEvent[]) => events.filter((e) => new Date(e.metadata.occurred_at).getTime() <= asOf.getTime());
  const snapshot = await snapshots.read<State>(streamName, decider.snapshot, { occurredBy: asOf });
  const after = snapshot && (await tailAfter(store, streamName, snapshot));
  // `revision` counts the events folded, less one, as a fold from the start reports it.
  if (snapshot && after) {
    const upTo = happened(after.tail);
    return { state: foldOn(decider, snapshot, upTo).state, revision: snapshot.revision + upTo.length };
  }
  const upTo = happened(await store.readStream(streamName));
  return { state: foldOn(decider, { state: decider.initialState, occurredUntil: null }, upTo).state, revision: upTo.length - 1 };
}

/**
 * Writes a new snapshot when `every` events or more were folded past the one the load started from,
 * once the stream is at least as long as a load reads from its end (`shorterNeedNone`): a shorter
 * one is read whole anyway. Not awaited by the command: a failed or late write only leaves the older
 * snapshot, which stays correct, so the error goes to `onError` (the caller's logger) and nothing else.
 * Returns whether it started a write.
 */
export function refreshSnapshotIfDue<State>(
  snapshots: SnapshotStore,
  fold: SnapshotIdentity,
  streamName: string,
  current: LoadedAggregate<State>,
  onError: (error: unknown) => void,
  every = SNAPSHOT_EVERY,
  // Loads that read the snapshot with the log read only the events after it: they need one sooner.
  shorterNeedNone = snapshots.readWithLog ? every : RECENT_EVENTS,
): boolean {
  if (current.lastEventId === null || current.occurredUntil === null || current.revision - current.snapshotRevision < every) return false;
  if (current.revision + 1 < shorterNeedNone) return false;
  const snapshot: AggregateSnapshot<State> = { revision: current.revision, eventId: current.lastEventId, state: current.state, occurredUntil: current.occurredUntil };
  snapshots.write(streamName, fold, snapshot).catch(onError);
  return true;
}
