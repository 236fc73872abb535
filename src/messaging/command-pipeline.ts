import { createHash, randomUUID } from 'node:crypto';
import { ExponentialBackoff, handleType, retry } from 'cockatiel';
import { LRUCache } from 'lru-cache';
import stringify from 'safe-stable-stringify';
import { v5 as uuidv5 } from 'uuid';
import {
  EventStore,
  NewEvent,
  RecordedEvent,
  StreamNotFoundError,
  WrongExpectedRevisionError,
} from '../event-store/event-store.port';
import { Decider, DomainEvent } from './decider';
import { ConflictError } from './domain-errors';

/** Who sends a command and why: this becomes every resulting event's metadata. */
export interface CommandContext {
  actor: string;
  correlationId: string;
  causationId?: string | null;
  /** Idempotency key: the same requestId on the same stream returns the first result and appends nothing. */
  requestId?: string | null;
  /** ISO time the command was issued; recorded as occurredAt. */
  issuedAt: string;
}

export interface AppendedEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
  revision: number;
}

export interface CommandOutcome {
  stream: string;
  events: AppendedEvent[];
  /** The stream's last revision after the command (-1 when the stream is still empty). */
  revision: number;
  /** The global position the command's events reached; 0 when nothing was appended. */
  position: number;
  /** True when a requestId was recognised and the first result was returned again. */
  replayed: boolean;
}

export interface PipelineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** What a requestId produced on a stream: enough to answer a replay without reading the history again. */
interface PriorRequest {
  hash: string | undefined;
  events: AppendedEvent[];
  position: number;
}

/**
 * A stream folded up to `revision`, with the requestIds recorded in it. The state is never
 * mutated (a new entry replaces it); the request map only grows, and only with events that
 * are in the log, so a command deciding on an older entry can only see more truth, not less.
 */
interface Folded<S> {
  revision: number;
  state: S;
  requests: Map<string, PriorRequest>;
}

const EVENT_ID_NAMESPACE = '0f7c0c5e-7d8b-4f0a-9d4e-2b7f1c3a9e10';

/** The digest of a command's parameters: its payload without the time it was issued at. */
export function commandHash(command: unknown): string {
  const { at: _at, ...rest } = (command ?? {}) as Record<string, unknown>;
  return createHash('sha256').update(stringify(rest) ?? '').digest('hex').slice(0, 32);
}

/**
 * The write path every context shares: read the stream, fold it with `evolve`, `decide`,
 * append with the expected revision; on a concurrent write, retry a bounded number of
 * times from a fresh read. A rejected command throws and appends nothing.
 */
export class CommandPipeline {
  private readonly policy;
  private readonly cache: LRUCache<string, Folded<unknown>>;

  constructor(
    private readonly store: EventStore,
    private readonly logger: PipelineLogger,
    maxConflictRetries = 8,
    cachedStreams = 20_000,
  ) {
    this.cache = new LRUCache<string, Folded<unknown>>({ max: cachedStreams });
    this.policy = retry(handleType(WrongExpectedRevisionError), {
      maxAttempts: maxConflictRetries,
      backoff: new ExponentialBackoff({ initialDelay: 1, maxDelay: 50 }),
    });
  }

  async run<C, E extends DomainEvent, S>(
    decider: Decider<C, E, S>,
    stream: string,
    command: C,
    context: CommandContext,
  ): Promise<CommandOutcome> {
    const hash = commandHash(command);
    const commandType = (command as { type?: string }).type ?? 'command';
    const outcome = await this.policy.execute(() => this.attempt(decider, stream, command, context, hash));
    this.logger.info(
      {
        correlationId: context.correlationId,
        requestId: context.requestId ?? undefined,
        actor: context.actor,
        command: commandType,
        stream,
        events: outcome.events.map((e) => e.type),
        replayed: outcome.replayed || undefined,
      },
      outcome.replayed ? `${commandType} replayed` : `${commandType} handled`,
    );
    return outcome;
  }

  /**
   * The stream folded to its last revision. Folded states are kept (LRU) and only the tail
   * written since is read, so a long stream costs one short read per command, not a replay;
   * a write by another process is in that tail, so the cache is never stale for a decision
   * (and the append's expected revision would catch it if it were).
   */
  async load<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, stream: string): Promise<{ state: S; revision: number }> {
    const f = await this.fold(decider, stream);
    return { state: f.state, revision: f.revision };
  }

  private async fold<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, stream: string): Promise<Folded<S>> {
    const key = `${decider.category}|${stream}`;
    const cached = this.cache.get(key) as Folded<S> | undefined;
    const tail = await this.readFrom(stream, cached ? cached.revision + 1 : 0);
    if (cached && tail.length === 0) return cached;
    const folded = tail.reduce((f, e) => this.advance(decider, f, e, e.metadata.commandHash, e.position), cached ?? this.empty(decider));
    this.cache.set(key, folded);
    return folded;
  }

  private empty<S>(decider: Decider<any, any, S>): Folded<S> {
    return { revision: -1, state: decider.initialState, requests: new Map() };
  }

  private advance<S>(decider: Decider<any, any, S>, f: Folded<S>, e: AppendedEvent & { metadata?: { requestId?: string | null } }, hash: string | undefined, position: number): Folded<S> {
    const requestId = e.metadata?.requestId;
    if (requestId) {
      const prior = f.requests.get(requestId);
      if (!prior?.events.some((p) => p.id === e.id)) {
        f.requests.set(requestId, { hash: prior?.hash ?? hash, events: [...(prior?.events ?? []), toAppended(e)], position });
      }
    }
    return { revision: e.revision, state: decider.evolve(f.state, { type: e.type, data: e.data }), requests: f.requests };
  }

  private async attempt<C, E extends DomainEvent, S>(
    decider: Decider<C, E, S>,
    stream: string,
    command: C,
    context: CommandContext,
    hash: string,
  ): Promise<CommandOutcome> {
    const folded = await this.fold(decider, stream);
    if (context.requestId) {
      const prior = folded.requests.get(context.requestId);
      if (prior) {
        if (prior.hash && prior.hash !== hash) {
          throw new ConflictError(
            `requestId ${context.requestId} was already used on ${stream} with different parameters`,
            { requestId: context.requestId, stream },
          );
        }
        return {
          stream,
          events: prior.events,
          revision: prior.events[prior.events.length - 1].revision,
          position: prior.position,
          replayed: true,
        };
      }
    }

    const state = folded.state;
    const decided = decider.decide(command, state);
    const current = folded.revision;
    if (decided.length === 0) {
      return { stream, events: [], revision: current, position: 0, replayed: false };
    }

    const metadata = {
      actor: context.actor,
      correlationId: context.correlationId,
      causationId: context.causationId ?? null,
      requestId: context.requestId ?? null,
      occurredAt: context.issuedAt,
      schemaVersion: decider.schemaVersion ?? 1,
      commandHash: hash,
    };
    const toAppend: NewEvent[] = decided.map((e, i) => ({
      // With a requestId the ids are derived from it, so the store itself recognises a retried append.
      id: context.requestId ? uuidv5(`${stream}/${context.requestId}/${i}`, EVENT_ID_NAMESPACE) : randomUUID(),
      type: e.type,
      data: e.data as Record<string, unknown>,
      metadata,
    }));
    const result = await this.store.append(stream, toAppend, current === -1 ? 'no_stream' : current);
    const key = `${decider.category}|${stream}`;
    if (this.cache.get(key) === folded) {
      let next: Folded<S> = folded;
      toAppend.forEach((e, i) => {
        next = this.advance(decider, next, { id: e.id, type: e.type, data: e.data, revision: current + 1 + i, metadata }, hash, result.position);
      });
      this.cache.set(key, next);
    }
    return {
      stream,
      events: toAppend.map((e, i) => ({ id: e.id, type: e.type, data: e.data, revision: current + 1 + i })),
      revision: result.nextExpectedRevision,
      position: result.position,
      replayed: false,
    };
  }

  private async readFrom(stream: string, fromRevision: number): Promise<RecordedEvent[]> {
    try {
      return await this.store.readStream(stream, fromRevision > 0 ? { fromRevision } : undefined);
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
  }
}

function toAppended(e: Pick<RecordedEvent, 'id' | 'type' | 'data' | 'revision'>): AppendedEvent {
  return { id: e.id, type: e.type, data: e.data, revision: e.revision };
}
