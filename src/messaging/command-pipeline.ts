import { createHash } from 'node:crypto';
import { ExponentialBackoff, handleType, retry } from 'cockatiel';
import { LRUCache } from 'lru-cache';
import stringify from 'safe-stable-stringify';
import { v5 as uuidv5, v7 as uuidv7 } from 'uuid';
import {
  EventMetadata,
  EventStore,
  EventStoreFullError,
  NewEvent,
  RecordedEvent,
  StreamNotFoundError,
  WrongExpectedRevisionError,
} from '../event-store/event-store.port';
import { Decider, DomainEvent } from './decider';
import { ConflictError, DomainError, UnavailableError } from './domain-errors';


/**
 * The id of an event no requestId derives: a UUIDv7, time-ordered, so the log's id index grows
 * at its end (one page written per group commit) instead of at a random page per event.
 * Derived ids (requestIds: sagas, executors, idempotent mutations) stay name-based (v5).
 */
export function newEventId(): string {
  return uuidv7();
}
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

/** Told about every command's outcome and every append's duration (metrics). */
export interface PipelineObserver {
  command(type: string, outcome: 'handled' | 'replayed' | 'rejected' | 'failed'): void;
  append(seconds: number): void;
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

interface Queued {
  command: unknown;
  context: CommandContext;
  /** The command's digest, with a requestId only: nothing else is answered by it. */
  hash: string | undefined;
  resolve: (outcome: CommandOutcome) => void;
  reject: (error: unknown) => void;
}
type Settled = { outcome: CommandOutcome } | { error: unknown };
const typeOf = (item: Queued) => (item.command as { type?: string }).type ?? 'command';
/** Commands of one stream decided and appended together, at most. */
const MAX_BATCH = 256;

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
  private readonly queues = new Map<string, { decider: Decider<any, any, any>; items: Queued[] }>();

  constructor(
    private readonly store: EventStore,
    private readonly logger: PipelineLogger,
    maxConflictRetries = 8,
    cachedStreams = 20_000,
    private readonly observer: PipelineObserver | null = null,
  ) {
    this.cache = new LRUCache<string, Folded<unknown>>({ max: cachedStreams });
    this.policy = retry(handleType(WrongExpectedRevisionError), {
      maxAttempts: maxConflictRetries,
      backoff: new ExponentialBackoff({ initialDelay: 1, maxDelay: 50 }),
    });
  }

  /**
   * Runs a command. Commands for the same stream in this process queue up, and those waiting
   * are decided one after another against the evolving state and appended together in one
   * write: a hot stream (a drain with fifty migrations reporting) costs one append per batch
   * instead of a storm of revision conflicts. Each command still succeeds or fails alone.
   */
  run<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, stream: string, command: C, context: CommandContext): Promise<CommandOutcome> {
    return new Promise<CommandOutcome>((resolve, reject) => {
      const key = `${decider.category}|${stream}`;
      const item: Queued = { command, context, hash: context.requestId ? commandHash(command) : undefined, resolve, reject };
      const queue = this.queues.get(key);
      if (queue) {
        queue.items.push(item);
        return;
      }
      this.queues.set(key, { decider, items: [item] });
      void this.work(key, stream);
    });
  }

  /**
   * For processes that act on the log (executors, runners): a domain refusal means the world
   * moved on meanwhile (canceled, released, deleted), which is an answer (null), not an error.
   * A store that cannot take the write now (UNAVAILABLE: out of space) is no refusal: it is
   * thrown, so the work is not taken as done or as moot.
   */
  async runUnlessRefused<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, stream: string, command: C, context: CommandContext): Promise<CommandOutcome | null> {
    try {
      return await this.run(decider, stream, command, context);
    } catch (err) {
      if (err instanceof DomainError && !(err instanceof UnavailableError)) return null;
      throw err;
    }
  }

  private async work(key: string, stream: string): Promise<void> {
    for (;;) {
      const queue = this.queues.get(key)!;
      if (queue.items.length === 0) {
        this.queues.delete(key);
        return;
      }
      const batch = queue.items.splice(0, MAX_BATCH);
      try {
        const settled = await this.policy.execute(() => this.attempt(queue.decider, stream, batch));
        settled.forEach((result, i) => {
          const item = batch[i];
          if ('error' in result) {
            this.observer?.command(typeOf(item), result.error instanceof DomainError ? 'rejected' : 'failed');
            return item.reject(result.error);
          }
          this.log(stream, item.command, item.context, result.outcome);
          this.observer?.command(typeOf(item), result.outcome.replayed ? 'replayed' : 'handled');
          item.resolve(result.outcome);
        });
      } catch (err) {
        const failure = this.storeFailure(err, stream);
        for (const item of batch) {
          this.observer?.command(typeOf(item), 'failed');
          item.reject(failure);
        }
      }
    }
  }

  /**
   * Commands of one decider on several streams, decided each on its stream and appended in one
   * write to them all: every one is recorded, or none (a refusal of any, a concurrent write, a
   * full store). A concurrent write retries the whole from fresh reads. No requestId: a retry
   * of the whole is answered by the deciders (a stream already there), not replayed.
   */
  async runAll<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, commands: ReadonlyArray<{ stream: string; command: C }>, context: CommandContext): Promise<CommandOutcome[]> {
    if (context.requestId) throw new Error('runAll takes no requestId');
    const type = commands.length ? ((commands[0].command as { type?: string }).type ?? 'command') : 'command';
    try {
      const outcomes = await this.policy.execute(() => this.attemptAll(decider, commands, context));
      for (const [i, o] of outcomes.entries()) {
        this.log(o.stream, commands[i].command, context, o);
        this.observer?.command(type, 'handled');
      }
      return outcomes;
    } catch (err) {
      for (let i = 0; i < commands.length; i++) this.observer?.command(type, err instanceof DomainError ? 'rejected' : 'failed');
      throw this.storeFailure(err, commands.map((c) => c.stream).join(', '));
    }
  }

  private async attemptAll<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, commands: ReadonlyArray<{ stream: string; command: C }>, context: CommandContext): Promise<CommandOutcome[]> {
    const metadata: EventMetadata = {
      actor: context.actor,
      correlationId: context.correlationId,
      causationId: context.causationId ?? null,
      requestId: null,
      occurredAt: context.issuedAt,
      schemaVersion: decider.schemaVersion ?? 1,
    };
    const plans: Array<{ stream: string; folded: Folded<S>; state: S; events: NewEvent[] }> = [];
    for (const { stream, command } of commands) {
      const folded = await this.fold(decider, stream);
      // A refusal throws here, before anything is appended.
      const decided = decider.decide(command, folded.state);
      let state = folded.state;
      for (const e of decided) state = decider.evolve(state, e);
      plans.push({ stream, folded, state, events: decided.map((e) => ({ id: newEventId(), type: e.type, data: e.data as Record<string, unknown>, metadata })) });
    }
    const toAppend = plans.filter((p) => p.events.length > 0);
    const started = performance.now();
    const results = toAppend.length
      ? await this.store.appendAll(toAppend.map((p) => ({ stream: p.stream, events: p.events, expected: p.folded.revision === -1 ? ('no_stream' as const) : p.folded.revision })))
      : [];
    this.observer?.append((performance.now() - started) / 1000);
    const byStream = new Map(toAppend.map((p, i) => [p.stream, results[i]]));
    return plans.map((p) => {
      const result = byStream.get(p.stream);
      const first = p.folded.revision + 1;
      const key = `${decider.category}|${p.stream}`;
      if (result && this.cache.get(key) === p.folded) this.cache.set(key, { revision: result.nextExpectedRevision, state: p.state, requests: p.folded.requests });
      return {
        stream: p.stream,
        events: p.events.map((e, i) => ({ id: e.id, type: e.type, data: e.data, revision: first + i })),
        revision: result?.nextExpectedRevision ?? p.folded.revision,
        position: result?.position ?? 0,
        replayed: false,
      };
    });
  }

  /** A store out of space is no bug: the caller is told plainly that nothing was recorded. */
  private storeFailure(err: unknown, stream: string): unknown {
    if (!(err instanceof EventStoreFullError)) return err;
    this.logger.warn({ stream, err: err.message }, 'the event log is out of space: a command was refused');
    return new UnavailableError('the event log is out of space: nothing of this command was recorded', { reason: 'EVENT_STORE_FULL' });
  }

  private log(stream: string, command: unknown, c: CommandContext, outcome: CommandOutcome): void {
    const commandType = (command as { type?: string }).type ?? 'command';
    this.logger.info(
      {
        correlationId: c.correlationId,
        requestId: c.requestId ?? undefined,
        actor: c.actor,
        command: commandType,
        stream,
        events: outcome.events.map((e) => e.type),
        replayed: outcome.replayed || undefined,
      },
      outcome.replayed ? `${commandType} replayed` : `${commandType} handled`,
    );
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
    this.remember(f.requests, e, hash, position);
    return { revision: e.revision, state: decider.evolve(f.state, { type: e.type, data: e.data }), requests: f.requests };
  }

  /** Records the event under its requestId, so a retry of that request is answered from memory. */
  private remember(requests: Folded<unknown>['requests'], e: AppendedEvent & { metadata?: { requestId?: string | null } }, hash: string | undefined, position: number): void {
    const requestId = e.metadata?.requestId;
    if (!requestId) return;
    const prior = requests.get(requestId);
    if (!prior?.events.some((p) => p.id === e.id)) {
      requests.set(requestId, { hash: prior?.hash ?? hash, events: [...(prior?.events ?? []), toAppended(e)], position });
    }
  }

  /**
   * Decides a batch against the stream as it is now and appends what it decided in one write.
   * Nothing is settled until the append succeeded, so a conflict (another process wrote)
   * retries the whole batch from a fresh read.
   */
  private async attempt<S>(decider: Decider<any, any, S>, stream: string, batch: readonly Queued[]): Promise<Settled[]> {
    const folded = await this.fold(decider, stream);
    const current = folded.revision;
    let state = folded.state;
    const toAppend: NewEvent[] = [];
    const plans: Array<Settled | { appended: NewEvent[]; revision: number } | { sameAs: number }> = [];
    const inBatch = new Map<string, { index: number; hash: string | undefined }>();
    for (const [index, item] of batch.entries()) {
      const { context, hash } = item;
      if (context.requestId) {
        const prior = folded.requests.get(context.requestId);
        const earlier = inBatch.get(context.requestId);
        if (prior || earlier) {
          if ((prior?.hash ?? earlier?.hash) && (prior?.hash ?? earlier?.hash) !== hash) {
            plans.push({ error: new ConflictError(`requestId ${context.requestId} was already used on ${stream} with different parameters`, { requestId: context.requestId, stream }) });
          } else if (prior) {
            const last = prior.events[prior.events.length - 1];
            plans.push({ outcome: { stream, events: prior.events, revision: last.revision, position: prior.position, replayed: true } });
          } else {
            plans.push({ sameAs: earlier!.index });
          }
          continue;
        }
        inBatch.set(context.requestId, { index, hash });
      }
      let decided: DomainEvent[];
      try {
        decided = decider.decide(item.command, state);
      } catch (error) {
        plans.push({ error });
        continue;
      }
      const metadata: EventMetadata = {
        actor: context.actor,
        correlationId: context.correlationId,
        causationId: context.causationId ?? null,
        requestId: context.requestId ?? null,
        occurredAt: context.issuedAt,
        schemaVersion: decider.schemaVersion ?? 1,
      };
      if (hash) metadata.commandHash = hash;
      const appended = decided.map((e, i): NewEvent => ({
        // With a requestId the ids are derived from it, so the store itself recognises a retried append.
        id: context.requestId ? uuidv5(`${stream}/${context.requestId}/${i}`, EVENT_ID_NAMESPACE) : newEventId(),
        type: e.type,
        data: e.data as Record<string, unknown>,
        metadata,
      }));
      for (const e of decided) state = decider.evolve(state, e);
      toAppend.push(...appended);
      plans.push({ appended, revision: current + toAppend.length });
    }

    let position = 0;
    if (toAppend.length > 0) {
      const started = performance.now();
      const result = await this.store.append(stream, toAppend, current === -1 ? 'no_stream' : current);
      this.observer?.append((performance.now() - started) / 1000);
      position = result.position;
      const key = `${decider.category}|${stream}`;
      if (this.cache.get(key) === folded) {
        // `state` is already `folded` evolved by exactly these events, in this order.
        toAppend.forEach((e, i) => this.remember(folded.requests, { id: e.id, type: e.type, data: e.data, revision: current + 1 + i, metadata: e.metadata }, e.metadata.commandHash, result.position));
        this.cache.set(key, { revision: current + toAppend.length, state, requests: folded.requests });
      }
    }
    const settled: Settled[] = [];
    for (const plan of plans) {
      if ('sameAs' in plan) {
        const earlier = settled[plan.sameAs];
        settled.push('outcome' in earlier ? { outcome: { ...earlier.outcome, replayed: true } } : earlier);
      }
      else if ('appended' in plan) {
        const first = plan.revision - plan.appended.length + 1;
        settled.push({
          outcome: {
            stream,
            events: plan.appended.map((e, i) => ({ id: e.id, type: e.type, data: e.data, revision: first + i })),
            revision: plan.revision,
            position: plan.appended.length ? position : 0,
            replayed: false,
          },
        });
      } else settled.push(plan);
    }
    return settled;
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
