/**
 * An aggregate as a pure decider: `decide` turns a command and the current state into new events (or
 * throws a DomainError), `evolve` folds one event into the state. No I/O, clock or randomness: time,
 * ids and the actor arrive on the command.
 */
export interface Decider<Command, State, Event> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState: State;
  /**
   * Present on deciders whose folded state may be cached as a snapshot (`libs/application/
   * aggregate-snapshots.ts`). Bump `version` whenever `evolve` or the state's shape changes in a way
   * that would fold the same events differently: a snapshot is used only under the version that wrote
   * it, so a bump makes every older snapshot a miss and the next load folds from the start.
   */
  snapshot?: SnapshotIdentity;
}

/** Which fold a snapshot holds: the decider's name (one per aggregate) and its `evolve`'s version. */
export interface SnapshotIdentity {
  name: string;
  version: number;
}

export function fold<State, Event>(decider: Pick<Decider<unknown, State, Event>, 'evolve' | 'initialState'>, events: Iterable<Event>): State {
  let state = decider.initialState;
  for (const event of events) state = decider.evolve(state, event);
  return state;
}

/** Compile-time exhaustiveness for switches over unions. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`);
}
