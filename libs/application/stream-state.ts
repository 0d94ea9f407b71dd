import { Decider, fold } from '../domain/decider';
import { upcast } from '../domain/upcasters';
import { RecordedEvent } from '../event-store/event-store.port';

export type DomainEvent = { type: string; data: unknown };

/**
 * A stream's event as its aggregate's event type. A stream is written only by its own decider (through
 * the command runner) and read back upcast to today's shape, so what the decider's `evolve` receives
 * is its own event; an unknown type falls to `evolve`'s default branch and changes nothing.
 */
function isEventOf<Event extends DomainEvent>(event: RecordedEvent): event is RecordedEvent & Event {
  return typeof event.type === 'string' && 'data' in event;
}

export function eventsOf<Event extends DomainEvent>(recorded: readonly RecordedEvent[]): Event[] {
  return recorded.filter((event): event is RecordedEvent & Event => isEventOf<Event>(event));
}

/** The same fold over events already read (e.g. by `readStreams`, together with another stream). */
export function stateOf<State, Event extends DomainEvent>(
  decider: Pick<Decider<unknown, State, Event>, 'evolve' | 'initialState'>,
  recorded: readonly RecordedEvent[],
  asOf?: Date,
): { state: State; revision: number } {
  const events = recorded.map(upcast);
  const upTo = asOf ? events.filter((e) => new Date(e.metadata.occurred_at).getTime() <= asOf.getTime()) : events;
  return { state: fold(decider, eventsOf<Event>(upTo)), revision: upTo.length - 1 };
}
