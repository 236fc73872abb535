import { Decider, DomainEvent, fold } from '../../src/messaging/decider';

/**
 * Given/when/then for deciders:
 *   given(decider, [events]).when(command).then([events])
 *   given(decider, [events]).when(command).thenThrows(ErrorClass, /message/)
 */
export function given<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, history: E[] = []) {
  const state = fold(decider, history);
  return {
    state,
    when(command: C) {
      const run = () => decider.decide(command, state);
      return {
        then(expected: E[]) {
          expect(run()).toEqual(expected);
        },
        thenNothing() {
          expect(run()).toEqual([]);
        },
        thenThrows(errorClass: abstract new (...args: never[]) => Error, message?: RegExp | string) {
          let thrown: unknown;
          try {
            run();
          } catch (err) {
            thrown = err;
          }
          expect(thrown).toBeInstanceOf(errorClass);
          if (message) expect((thrown as Error).message).toMatch(message);
          return thrown as Error;
        },
      };
    },
  };
}
