import { RecordedEvent } from '../event-store/event-store.port';
import { Change, IndexSpec } from '../read-store/read-store.port';
import { Decider } from './decider';

/**
 * A projection is a small module: a name, a version, its collections (with indexes), and
 * for each event type it handles, the document changes that event makes. No driver or
 * framework code: handlers are pure functions of the event. Changes name the logical
 * collection; the runner writes them to the generation being built.
 */
export interface Projection {
  readonly name: string;
  /** Bump it when the handlers change meaning: the read model is rebuilt at start-up. */
  readonly version: number;
  readonly collections: Readonly<Record<string, { indexes?: readonly IndexSpec[] }>>;
  readonly handlers: Readonly<Record<string, (event: RecordedEvent) => Change[]>>;
}

/** One command a saga sends: which decider, on which stream. The runner derives its ids from the event. */
export interface SagaCommand {
  /** Distinguishes several commands made from one event (part of the derived requestId). */
  readonly key: string;
  readonly decider: Decider<any, any, any>;
  readonly stream: string;
  readonly command: unknown;
}

/** A saga maps events to commands; its runner delivers them durably, from its own checkpoint. */
export interface Saga {
  readonly name: string;
  readonly handlers: Readonly<Record<string, (event: RecordedEvent) => SagaCommand[] | Promise<SagaCommand[]>>>;
}

/** The physical collection holding generation `g` of a logical collection. */
export function physicalName(logical: string, generation: number): string {
  return `${logical}_g${generation}`;
}
