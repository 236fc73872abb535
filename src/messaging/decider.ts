/**
 * A decider is an aggregate as plain data and pure functions (ARCHITECTURE rule 2):
 * no I/O, no clock, no randomness. Time and ids come in with the command.
 */
export interface DomainEvent<T extends string = string, D extends object = object> {
  readonly type: T;
  readonly data: D;
}

export interface Decider<C, E extends DomainEvent, S> {
  /** The stream category this decider owns, e.g. `machine` for `machine-hv7`. */
  readonly category: string;
  readonly initialState: S;
  /** Returns the events the command causes, or throws a DomainError. An empty list means "nothing to do". */
  decide(command: C, state: S): E[];
  evolve(state: S, event: E): S;
  /** Schema version recorded in the metadata of new events. Default 1. */
  readonly schemaVersion?: number;
}

/** Folds a history with a decider's evolve. */
export function fold<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, events: readonly E[], from?: S): S {
  return events.reduce((s, e) => decider.evolve(s, e), from ?? decider.initialState);
}
