import type { IntegrityReport } from '../storage/integrity';

/**
 * The event store port: the only source of truth in Drydock.
 *
 * Revisions are 0-based per stream (the first event of a stream has revision 0).
 * Positions are global, strictly increasing across the whole log, and opaque to
 * callers except for ordering: "after position P" means "strictly later than P".
 * A store assigns positions from `FIRST_POSITION` on; a file edited by hand may hold others.
 */

export const EVENT_STORE = Symbol('EVENT_STORE');

/** The first position a store assigns: no event it wrote is at a position below it. */
export const FIRST_POSITION = 1;

/** Whether a store could have assigned this position (a whole number from `FIRST_POSITION`, exact as a JavaScript number). */
export function isAssignablePosition(position: number): boolean {
  return Number.isSafeInteger(position) && position >= FIRST_POSITION;
}

/** Every event carries who, when and because of what (ARCHITECTURE rule 4). */
export interface EventMetadata {
  actor: string;
  correlationId: string;
  causationId: string | null;
  requestId: string | null;
  occurredAt: string;
  schemaVersion: number;
  /** A digest of the command that produced the event, so a reused requestId with other parameters is caught. */
  commandHash?: string;
  [key: string]: unknown;
}

export interface NewEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
  metadata: EventMetadata;
}

/**
 * An event as the log holds it. Read-only to every consumer: a store may hand the same object
 * (and the same parsed data) to every subscriber that reads it.
 */
export interface RecordedEvent {
  id: string;
  stream: string;
  revision: number;
  position: number;
  type: string;
  data: Record<string, unknown>;
  metadata: EventMetadata;
  recordedAt: string;
}

/** `no_stream`: the stream must not exist; `stream_exists`: it must; `any`: no check; a number: the revision of its last event. */
export type ExpectedRevision = 'no_stream' | 'stream_exists' | 'any' | number;

export interface AppendResult {
  /** The revision of the last event now in the stream; pass it as the next expected revision. */
  nextExpectedRevision: number;
  /** The global position of the last appended event. */
  position: number;
}

/** One stream's part of an append to several streams (see `appendAll`). */
export interface StreamAppend {
  stream: string;
  events: readonly NewEvent[];
  expected: ExpectedRevision;
}

export interface AllFilter {
  /** Keep only events whose type is one of these. */
  eventTypes?: readonly string[];
  /** Keep only events whose stream name starts with one of these. */
  streamPrefixes?: readonly string[];
}

export interface ReadStreamOptions {
  direction?: 'forwards' | 'backwards';
  /** Inclusive. Default: the start (forwards) or the end (backwards). */
  fromRevision?: number;
  maxCount?: number;
}

export interface ReadAllOptions {
  direction?: 'forwards' | 'backwards';
  /**
   * Forwards: events strictly after this position; backwards: strictly before it. Default: the
   * start / the end, which is every event the log holds, whatever its position (one a store never
   * assigns included: the whole-log verification reports those).
   */
  from?: number;
  maxCount?: number;
  filter?: AllFilter;
}

export interface SubscribeOptions {
  /** Deliver events strictly after this position; `start` (default) delivers the whole log, from `FIRST_POSITION`. */
  after?: number | 'start';
  filter?: AllFilter;
  /**
   * A hint: the event types whose data and metadata the consumer will read. An adapter may
   * deliver the others with their payload loaded only when read (every event is still delivered).
   */
  payloadTypes?: readonly string[];
}

/**
 * A catch-up subscription: an async iterable that reads the history and then
 * continues live, without gaps or duplicates. It is pull-based: the store is read
 * only as fast as the consumer asks (backpressure).
 */
export interface EventSubscription extends AsyncIterable<RecordedEvent> {
  close(): Promise<void>;
  /**
   * Optional: the same events as arrays of up to `maxCount`, each what one read found, so a
   * consumer that works in batches does not pay a promise per event. Use one way or the other.
   */
  pages?(maxCount: number): AsyncIterable<RecordedEvent[]>;
}

export interface EventStore {
  /** A short human-readable name, logged at start-up. */
  readonly description: string;
  append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult>;
  /**
   * Appends to several streams at once, all or nothing: a part refused (its expected revision, an
   * id used by another event) or a store failure part-way (a full disk) writes no part. Each
   * part's result, in the order given. An adapter whose store cannot commit several streams together says so (see its class).
   */
  appendAll(appends: readonly StreamAppend[]): Promise<AppendResult[]>;
  /** Throws StreamNotFoundError when the stream has no events. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  subscribeToAll(options?: SubscribeOptions): EventSubscription;
  /** The event with this id, or null. */
  readEvent(id: string): Promise<RecordedEvent | null>;
  /** The events whose metadata names this event as their cause, in log order (at most `maxCount`, default 1000). */
  readCausedBy(eventId: string, maxCount?: number): Promise<RecordedEvent[]>;
  /** The position of the last event in the log, or 0 when the log is empty. */
  headPosition(): Promise<number>;
  /** Resolves when the store answers; rejects otherwise. */
  ping(): Promise<void>;
  /** The store's integrity, checked within `timeoutMs` (see `IntegrityReport`); never rejects for damage. */
  checkIntegrity(timeoutMs: number): Promise<IntegrityReport>;
  close(): Promise<void>;
}

export class WrongExpectedRevisionError extends Error {
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | 'no_stream',
  ) {
    super(`wrong expected revision on ${stream}: expected ${String(expected)}, actual ${String(actual)}`);
    this.name = 'WrongExpectedRevisionError';
  }
}

/**
 * An append to several streams that the store could not make atomic failed after writing some of
 * them (only an adapter without multi-stream transactions throws it): `written` names those.
 */
export class PartialAppendError extends Error {
  constructor(
    readonly written: readonly string[],
    readonly failure: unknown,
  ) {
    super(`append to several streams failed after writing ${written.join(', ')}: ${failure instanceof Error ? failure.message : String(failure)}`);
    this.name = 'PartialAppendError';
  }
}

/** The store refused a write for want of space: nothing of that write is in the log. */
export class EventStoreFullError extends Error {
  constructor(readonly detail: string) {
    super(`the event log is out of space: ${detail}`);
    this.name = 'EventStoreFullError';
  }
}

export class StreamNotFoundError extends Error {
  constructor(readonly stream: string) {
    super(`stream ${stream} not found`);
    this.name = 'StreamNotFoundError';
  }
}

/** An event id reused for a different event (not a retry of the same append). */
export class DuplicateEventIdError extends Error {
  constructor(readonly eventId: string) {
    super(`event id ${eventId} is already used by another event`);
    this.name = 'DuplicateEventIdError';
  }
}

export function matchesFilter(event: Pick<RecordedEvent, 'type' | 'stream'>, filter?: AllFilter): boolean {
  if (!filter) return true;
  if (filter.eventTypes && !filter.eventTypes.includes(event.type)) return false;
  if (filter.streamPrefixes && !filter.streamPrefixes.some((p) => event.stream.startsWith(p))) return false;
  return true;
}

/** The category of a stream: `machine-hv7` -> `machine`. */
export function categoryOf(stream: string): string {
  const dash = stream.indexOf('-');
  return dash === -1 ? stream : stream.slice(0, dash);
}
