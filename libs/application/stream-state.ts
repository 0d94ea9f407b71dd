import { Decider, fold } from '../domain/decider';
import { upcast } from '../domain/upcasters';
import { EventStore, RecordedEvent } from '../event-store/event-store.port';

/**
 * A stream folded into its aggregate's state — all of it, or (time travel) only the events that had
 * happened by `asOf`. `revision` is that of the last event folded, -1 for none.
 */
export async function loadState<State, Event extends { type: string; data: unknown }>(
  store: EventStore,
  decider: Pick<Decider<unknown, State, Event>, 'evolve' | 'initialState'>,
  streamName: string,
  asOf?: Date,
): Promise<{ state: State; revision: number }> {
  return stateOf(decider, await store.readStream(streamName), asOf);
}

/** The same fold over events already read (e.g. by `readStreams`, together with another stream). */
export function stateOf<State, Event extends { type: string; data: unknown }>(
  decider: Pick<Decider<unknown, State, Event>, 'evolve' | 'initialState'>,
  recorded: readonly RecordedEvent[],
  asOf?: Date,
): { state: State; revision: number } {
  const events = recorded.map(upcast);
  const upTo = asOf ? events.filter((e) => new Date(e.metadata.occurred_at).getTime() <= asOf.getTime()) : events;
  return { state: fold(decider, upTo as unknown as Event[]), revision: upTo.length - 1 };
}
