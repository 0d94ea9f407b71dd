import { Decider, fold } from '../domain/decider';
import { upcast } from '../domain/upcasters';
import { EventStore } from '../event-store/event-store.port';
import { Pool } from 'pg';
import { PostgresSnapshotStore, SnapshotStore } from './aggregate-snapshots';
import { PostgresEventStore } from '../event-store/postgres/postgres-event-store';
import { IdempotencyIndex, PostgresIdempotencyIndex } from './idempotency-index';
import { LoadedAggregate, loadAggregate, loadAggregateAsOf } from './snapshot-loader';
import { DomainEvent, eventsOf, stateOf } from './stream-state';

/**
 * Where aggregates are loaded from and written to: the log, the snapshots of folded state and the
 * idempotency index (both in PostgreSQL, whichever store holds the log). What every command handler,
 * the installer and the process managers are given, so that none reads a whole stream to decide.
 */
export interface Aggregates {
  eventStore: EventStore;
  snapshots: SnapshotStore;
  idempotency: IdempotencyIndex;
  /** A snapshot or index write that failed after a command's append: the log stays the truth, so it is only reported. */
  onBackgroundError(error: unknown): void;
}

/** The snapshots and the idempotency index in PostgreSQL, beside whichever event store holds the log. */
export function aggregatesIn(pool: Pool, eventStore: EventStore, options: { idempotencyRetentionMs: number; onBackgroundError: (error: unknown) => void }): Aggregates {
  return {
    eventStore,
    snapshots: new PostgresSnapshotStore(pool, { logBeside: eventStore instanceof PostgresEventStore }),
    idempotency: new PostgresIdempotencyIndex(pool, options.idempotencyRetentionMs),
    onBackgroundError: options.onBackgroundError,
  };
}

export function isAggregates(target: Aggregates | EventStore): target is Aggregates {
  return 'eventStore' in target && 'snapshots' in target && 'idempotency' in target;
}

type Fold<State, Event> = Pick<Decider<unknown, State, Event>, 'evolve' | 'initialState' | 'snapshot'>;

/**
 * The stream's current state: from its newest snapshot and the events after it when the decider's
 * state is snapshotted, else (short streams: keys, organisations) from the start.
 * With `upToRevision`, as it was after that event.
 */
export async function loadCurrent<State, Event extends DomainEvent>(
  aggregates: Pick<Aggregates, 'eventStore' | 'snapshots'>,
  decider: Fold<State, Event>,
  streamName: string,
  upToRevision?: number,
): Promise<LoadedAggregate<State>> {
  const { snapshot } = decider;
  if (snapshot) return loadAggregate(aggregates.eventStore, aggregates.snapshots, { ...decider, snapshot }, streamName, upToRevision);
  const recorded = (await aggregates.eventStore.readStream(streamName, upToRevision === undefined ? {} : { maxCount: upToRevision + 1 })).map(upcast);
  const last = recorded[recorded.length - 1];
  const state = fold(decider, eventsOf<Event>(recorded));
  return { state, revision: last?.revision ?? -1, lastEventId: last?.id ?? null, position: last?.position, snapshotRevision: -1, occurredUntil: null, tail: recorded };
}

/**
 * The stream's state now, or (time travel) as of `asOf`: the events that had happened by then.
 * `revision` is that of the last event folded, -1 for none.
 */
export async function loadState<State, Event extends DomainEvent>(
  aggregates: Pick<Aggregates, 'eventStore' | 'snapshots'>,
  decider: Fold<State, Event>,
  streamName: string,
  asOf?: Date,
): Promise<{ state: State; revision: number }> {
  const { snapshot } = decider;
  if (asOf && snapshot) return loadAggregateAsOf(aggregates.eventStore, aggregates.snapshots, { ...decider, snapshot }, streamName, asOf);
  if (asOf) return stateOf(decider, await aggregates.eventStore.readStream(streamName), asOf);
  const { state, revision } = await loadCurrent(aggregates, decider, streamName);
  return { state, revision };
}
