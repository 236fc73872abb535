import { createHash, randomUUID } from 'node:crypto';
import { ExponentialBackoff, handleType, retry } from 'cockatiel';
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

  constructor(
    private readonly store: EventStore,
    private readonly logger: PipelineLogger,
    maxConflictRetries = 8,
  ) {
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

  private async attempt<C, E extends DomainEvent, S>(
    decider: Decider<C, E, S>,
    stream: string,
    command: C,
    context: CommandContext,
    hash: string,
  ): Promise<CommandOutcome> {
    const history = await this.readHistory(stream);
    if (context.requestId) {
      const prior = history.filter((e) => e.metadata.requestId === context.requestId);
      if (prior.length > 0) {
        if (prior[0].metadata.commandHash && prior[0].metadata.commandHash !== hash) {
          throw new ConflictError(
            `requestId ${context.requestId} was already used on ${stream} with different parameters`,
            { requestId: context.requestId, stream },
          );
        }
        const last = prior[prior.length - 1];
        return {
          stream,
          events: prior.map(toAppended),
          revision: last.revision,
          position: last.position,
          replayed: true,
        };
      }
    }

    let state = decider.initialState;
    for (const e of history) state = decider.evolve(state, { type: e.type, data: e.data } as E);
    const decided = decider.decide(command, state);
    const current = history.length ? history[history.length - 1].revision : -1;
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
    return {
      stream,
      events: toAppend.map((e, i) => ({ id: e.id, type: e.type, data: e.data, revision: current + 1 + i })),
      revision: result.nextExpectedRevision,
      position: result.position,
      replayed: false,
    };
  }

  private async readHistory(stream: string): Promise<RecordedEvent[]> {
    try {
      return await this.store.readStream(stream);
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
  }
}

function toAppended(e: RecordedEvent): AppendedEvent {
  return { id: e.id, type: e.type, data: e.data, revision: e.revision };
}
