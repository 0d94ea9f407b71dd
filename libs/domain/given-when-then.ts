import { Decider, fold } from './decider';
import { DomainError } from './domain-error';

/**
 * given(decider, pastEvents).when(command).then(expectedEvents) — or .thenFails(code). Reads like the
 * rule it checks and exercises exactly decide + evolve, nothing else.
 */
export function given<Command, State, Event>(decider: Decider<Command, State, Event>, events: Event[] = []) {
  const state = fold(decider, events);
  return {
    state,
    when(command: Command) {
      const run = () => decider.decide(command, state);
      return {
        then(expected: Event[]): void {
          expect(run()).toEqual(expected);
        },
        thenNothingHappens(): void {
          expect(run()).toEqual([]);
        },
        thenFails(code: string): void {
          let error: unknown;
          try {
            run();
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(DomainError);
          expect((error as DomainError).code).toBe(code);
        },
        /** The state after folding the produced events in, for checks on the result. */
        thenState(): State {
          return fold({ evolve: (folded, event) => decider.evolve(folded, event), initialState: state }, run());
        },
      };
    },
  };
}
