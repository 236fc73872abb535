import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamNotFoundError as EsdbStreamNotFoundError,
  WrongExpectedVersionError,
  eventTypeFilter,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type Filter,
  type Position,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import {
  AllFilter,
  AppendResult,
  EventStore,
  EventSubscription,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamNotFoundError,
  SubscribeOptions,
  WrongExpectedRevisionError,
  matchesFilter,
} from '../event-store.port';

/**
 * The production event store on EventStoreDB. Global positions are the commit
 * positions of `$all`; a checkpoint P resumes from {commit: P, prepare: P}.
 */
export class EsdbEventStore implements EventStore {
  readonly description: string;
  private readonly client: EventStoreDBClient;
  private closed = false;

  constructor(connectionString: string) {
    this.client = EventStoreDBClient.connectionString(connectionString);
    this.description = `EventStoreDB (${connectionString.replace(/\/\/[^@/]*@/, '//***@')})`;
  }

  async append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    try {
      const result = await this.client.appendToStream(
        stream,
        events.map((e) => jsonEvent({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })),
        { expectedRevision: toEsdbExpected(expected) },
      );
      return {
        nextExpectedRevision: Number(result.nextExpectedRevision),
        position: Number(result.position?.commit ?? 0n),
      };
    } catch (err) {
      if (err instanceof WrongExpectedVersionError) {
        const actual = typeof err.actualVersion === 'bigint' ? Number(err.actualVersion) : 'no_stream';
        throw new WrongExpectedRevisionError(stream, expected, actual);
      }
      throw err;
    }
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const out: RecordedEvent[] = [];
    try {
      const read = this.client.readStream(stream, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: options.fromRevision !== undefined ? BigInt(options.fromRevision) : backwards ? END : START,
        maxCount: options.maxCount,
      });
      for await (const resolved of read) {
        const e = toRecorded(resolved);
        if (e) out.push(e);
      }
    } catch (err) {
      if (err instanceof EsdbStreamNotFoundError) throw new StreamNotFoundError(stream);
      throw err;
    }
    return out;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const max = options.maxCount ?? 4096;
    const out: RecordedEvent[] = [];
    // Reads of $all are inclusive of fromPosition; the port's are exclusive.
    const read = this.client.readAll({
      direction: backwards ? BACKWARDS : FORWARDS,
      fromPosition: options.from !== undefined ? toPosition(options.from) : backwards ? END : START,
      maxCount: max + 1,
    });
    for await (const resolved of read) {
      const e = toRecorded(resolved);
      if (!e || e.position === options.from || !matchesFilter(e, options.filter)) continue;
      out.push(e);
      if (out.length >= max) break;
    }
    return out;
  }

  subscribeToAll(options: SubscribeOptions = {}): EventSubscription {
    const client = this.client;
    const filter = options.filter;
    let last = options.after === undefined || options.after === 'start' ? null : options.after;
    let current: ReturnType<EventStoreDBClient['subscribeToAll']> | null = null;
    let closed = false;
    const reconnect = retry(handleAll, {
      maxAttempts: Number.MAX_SAFE_INTEGER,
      backoff: new ExponentialBackoff({ initialDelay: 200, maxDelay: 10_000 }),
    });

    async function* iterate(): AsyncGenerator<RecordedEvent> {
      while (!closed) {
        // A dropped subscription is resumed from the last delivered position, with backoff.
        const sub = await reconnect.execute(async () =>
          client.subscribeToAll({ fromPosition: last === null ? START : toPosition(last), filter: toEsdbFilter(filter) }),
        );
        current = sub;
        try {
          // for-await pulls from the stream, so the server's reads follow the consumer (no on('data')).
          for await (const resolved of sub) {
            const e = toRecorded(resolved);
            if (!e || (last !== null && e.position <= last) || !matchesFilter(e, filter)) continue;
            last = e.position;
            yield e;
            if (closed) return;
          }
        } catch (err) {
          if (closed) return;
          await new Promise((r) => setTimeout(r, 200));
        } finally {
          await sub.unsubscribe().catch(() => undefined);
        }
      }
    }

    const iterator = iterate();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: async () => {
        closed = true;
        await current?.unsubscribe().catch(() => undefined);
        await iterator.return(undefined);
      },
    };
  }

  async headPosition(): Promise<number> {
    const [last] = await this.readAll({ direction: 'backwards', maxCount: 1 });
    return last?.position ?? 0;
  }

  async ping(): Promise<void> {
    await this.readAll({ direction: 'backwards', maxCount: 1 });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.dispose();
  }
}

function toEsdbExpected(expected: ExpectedRevision): AppendExpectedRevision {
  if (expected === 'no_stream') return NO_STREAM;
  if (expected === 'stream_exists') return STREAM_EXISTS;
  if (expected === 'any') return ANY;
  return BigInt(expected);
}

function toPosition(p: number): Position {
  return { commit: BigInt(p), prepare: BigInt(p) };
}

/** EventStoreDB filters on one dimension server-side; the other is applied as the events arrive. */
function toEsdbFilter(filter?: AllFilter): Filter {
  if (filter?.eventTypes) return eventTypeFilter({ prefixes: [...filter.eventTypes] });
  if (filter?.streamPrefixes) return streamNameFilter({ prefixes: [...filter.streamPrefixes] });
  return eventTypeFilter({ regex: '^[^$]' });
}

function toRecorded(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent | null {
  const e = resolved.event;
  if (!e || !e.isJson || e.type.startsWith('$') || e.streamId.startsWith('$')) return null;
  return {
    id: e.id,
    stream: e.streamId,
    revision: Number(e.revision),
    position: Number(e.position?.commit ?? resolved.commitPosition ?? 0n),
    type: e.type,
    data: e.data as Record<string, unknown>,
    metadata: e.metadata as RecordedEvent['metadata'],
    recordedAt: e.created.toISOString(),
  };
}
