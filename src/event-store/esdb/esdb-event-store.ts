import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  StreamNotFoundError as EsdbStreamNotFoundError,
  WrongExpectedVersionError,
  eventTypeFilter,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type EventData,
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
  PartialAppendError,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamAppend,
  StreamNotFoundError,
  SubscribeOptions,
  WrongExpectedRevisionError,
  matchesFilter,
} from '../event-store.port';
import { chain, chainedMetadata, GENESIS_HASH } from '../hash-chain';
import type { IntegrityReport } from '../../storage/integrity';

export interface EsdbOptions {
  /**
   * This installation's part of the server: its streams are `<namespace>/<stream>` there, and it
   * reads and subscribes to those only. Callers never see the prefix, and the hash chain covers
   * the names they gave (a namespace is where a log lives, not part of it).
   */
  namespace?: string;
}

/**
 * The production event store on EventStoreDB. Global positions are the commit
 * positions of `$all`; a checkpoint P resumes from {commit: P, prepare: P}.
 */
export class EsdbEventStore implements EventStore {
  readonly description: string;
  private readonly client: EventStoreDBClient;
  /** The server-side prefix of this installation's streams, '' without a namespace. */
  private readonly prefix: string;
  private closed = false;

  constructor(connectionString: string, options: EsdbOptions = {}) {
    this.client = EventStoreDBClient.connectionString(connectionString);
    this.prefix = options.namespace ? `${options.namespace}/` : '';
    this.description = `EventStoreDB (${connectionString.replace(/\/\/[^@/]*@/, '//***@')}${options.namespace ? `, namespace ${options.namespace}` : ''})`;
  }

  async append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    try {
      // The hash chain needs the predecessor, so the append is pinned to it: a number is kept
      // (and a retried append still meets EventStoreDB's idempotence check); `any` and
      // `stream_exists` become the revision just read, and a concurrent writer is a conflict.
      const pinned = await this.predecessor(stream, expected);
      const result = await this.client.appendToStream(this.prefix + stream, toEsdbEvents(stream, pinned, events, new Date()), {
        expectedRevision: pinned.revision === -1 ? NO_STREAM : BigInt(pinned.revision),
      });
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

  /**
   * EventStoreDB (this client, this server version) commits one stream per append: it has no
   * transaction over several. So every part's expected revision is checked first, and a refusal
   * found then writes nothing; the parts are then appended one after another, each pinned to the
   * revision checked. A failure after the first write (a concurrent writer on a later stream, the
   * server gone) leaves the earlier parts written and says which (PartialAppendError): this
   * adapter cannot keep the all-or-nothing promise in that case, and does not pretend to.
   */
  async appendAll(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    if (new Set(appends.map((a) => a.stream)).size !== appends.length) throw new Error('appendAll takes each stream once');
    const pinned: ExpectedRevision[] = [];
    for (const a of appends) {
      const p = await this.predecessor(a.stream, a.expected);
      pinned.push(p.revision === -1 ? 'no_stream' : p.revision);
    }
    const results: AppendResult[] = [];
    for (const [i, a] of appends.entries()) {
      try {
        results.push(await this.append(a.stream, a.events, pinned[i]));
      } catch (err) {
        if (i === 0) throw err;
        throw new PartialAppendError(appends.slice(0, i).map((w) => w.stream), err);
      }
    }
    return results;
  }

  /** The revision (-1: none) and hash the new events follow, as the expected revision asks. */
  private async predecessor(stream: string, expected: ExpectedRevision): Promise<{ revision: number; hash: string }> {
    if (expected === 'no_stream') return { revision: -1, hash: GENESIS_HASH };
    const from = typeof expected === 'number' ? expected : undefined;
    let last: RecordedEvent | undefined;
    try {
      [last] = await this.readStream(stream, { direction: 'backwards', fromRevision: from, maxCount: 1 });
    } catch (err) {
      if (!(err instanceof StreamNotFoundError)) throw err;
    }
    if (!last) {
      if (expected === 'any') return { revision: -1, hash: GENESIS_HASH };
      throw new WrongExpectedRevisionError(stream, expected, 'no_stream');
    }
    if (typeof expected === 'number' && last.revision !== expected) throw new WrongExpectedRevisionError(stream, expected, last.revision);
    return { revision: last.revision, hash: typeof last.metadata.hash === 'string' ? last.metadata.hash : GENESIS_HASH };
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const out: RecordedEvent[] = [];
    try {
      const read = this.client.readStream(this.prefix + stream, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: options.fromRevision !== undefined ? BigInt(options.fromRevision) : backwards ? END : START,
        maxCount: options.maxCount,
      });
      for await (const resolved of read) {
        const e = toRecorded(resolved, this.prefix);
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
    // Reads of $all are inclusive of fromPosition; the port's are exclusive. No count is asked
    // of the server: what is not the log's own ($-events, other namespaces) or does not pass the
    // filter is dropped here (this client's reads of $all take no server-side filter), so a page
    // of `max` may lie any distance on. The read streams, and stops once it is full.
    const read = this.client.readAll({
      direction: backwards ? BACKWARDS : FORWARDS,
      fromPosition: options.from !== undefined ? toPosition(options.from) : backwards ? END : START,
    });
    for await (const resolved of read) {
      const e = toRecorded(resolved, this.prefix);
      if (!e || e.position === options.from || !matchesFilter(e, options.filter)) continue;
      out.push(e);
      if (out.length >= max) break;
    }
    return out;
  }

  subscribeToAll(options: SubscribeOptions = {}): EventSubscription {
    const client = this.client;
    const prefix = this.prefix;
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
          client.subscribeToAll({ fromPosition: last === null ? START : toPosition(last), filter: toEsdbFilter(filter, prefix) }),
        );
        current = sub;
        try {
          // for-await pulls from the stream, so the server's reads follow the consumer (no on('data')).
          for await (const resolved of sub) {
            const e = toRecorded(resolved, prefix);
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

  /**
   * EventStoreDB has no index by event id or by causation id in metadata: both walk `$all`
   * a page at a time (newest first for an id, oldest first for effects). An audit read, not a hot path.
   */
  async readEvent(id: string): Promise<RecordedEvent | null> {
    let found: RecordedEvent | null = null;
    await this.scan('backwards', (e) => {
      if (e.id === id) found = e;
      return found === null;
    });
    return found;
  }

  async readCausedBy(eventId: string, maxCount = 1000): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    await this.scan('forwards', (e) => {
      if (e.metadata.causationId === eventId) out.push(e);
      return out.length < maxCount;
    });
    return out;
  }

  /** Visits `$all` in pages until `visit` returns false or the log ends. */
  private async scan(direction: 'forwards' | 'backwards', visit: (e: RecordedEvent) => boolean): Promise<void> {
    let from: number | undefined;
    for (;;) {
      const page = await this.readAll({ direction, from, maxCount: 1000 });
      for (const e of page) if (!visit(e)) return;
      if (page.length < 1000) return;
      from = page[page.length - 1].position;
    }
  }

  async headPosition(): Promise<number> {
    const [last] = await this.readAll({ direction: 'backwards', maxCount: 1 });
    return last?.position ?? 0;
  }

  async ping(): Promise<void> {
    await this.readAll({ direction: 'backwards', maxCount: 1 });
  }

  /** Nothing this app can run: the server verifies its own chunks (see the details). */
  async checkIntegrity(): Promise<IntegrityReport> {
    return {
      status: 'NOT_APPLICABLE',
      details: ['EventStoreDB verifies its own database files (chunk checksums at start-up, unless started with --skip-db-verify); this app has no check to run on it. Each stream\'s hash chain is checked by verifyStream.'],
      milliseconds: 0,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.dispose();
  }
}

/**
 * The events as this adapter writes them after `pinned`. The server gives each its position as it
 * commits, after the hash is made, so the chain is of version 2: the time of the append is set
 * here, kept in the metadata as `recordedAt` (what reads hand out), and hashed; the position is
 * not. Exported for the unit test of the chain as written, which needs no server.
 */
export function toEsdbEvents(stream: string, pinned: { revision: number; hash: string }, events: readonly NewEvent[], now: Date): EventData[] {
  const recordedAt = now.toISOString();
  const timed = events.map((e) => ({ ...e, metadata: { ...e.metadata, recordedAt } }));
  const { chained } = chain(stream, pinned.revision + 1, pinned.hash, timed, { recordedAt });
  return chained.map((c) => jsonEvent({ id: c.event.id, type: c.event.type, data: c.event.data, metadata: chainedMetadata(c) }));
}

function toPosition(p: number): Position {
  return { commit: BigInt(p), prepare: BigInt(p) };
}

/**
 * EventStoreDB filters on one dimension server-side; the other is applied as the events arrive.
 * In a namespace, the server filters on stream names (the namespace's, or its prefixes under it).
 * Exported, with `toRecorded`, for the unit test of the namespace mapping, which needs no server.
 */
export function toEsdbFilter(filter: AllFilter | undefined, prefix: string): Filter {
  if (prefix) return streamNameFilter({ prefixes: filter?.streamPrefixes ? filter.streamPrefixes.map((p) => prefix + p) : [prefix] });
  if (filter?.eventTypes) return eventTypeFilter({ prefixes: [...filter.eventTypes] });
  if (filter?.streamPrefixes) return streamNameFilter({ prefixes: [...filter.streamPrefixes] });
  return eventTypeFilter({ regex: '^[^$]' });
}

/** The event as the port has it; null for the server's own events and other namespaces'. */
export function toRecorded(resolved: ResolvedEvent | AllStreamResolvedEvent, prefix: string): RecordedEvent | null {
  const e = resolved.event;
  if (!e || !e.isJson || e.type.startsWith('$') || e.streamId.startsWith('$') || !e.streamId.startsWith(prefix)) return null;
  const metadata = e.metadata as RecordedEvent['metadata'];
  return {
    id: e.id,
    stream: e.streamId.slice(prefix.length),
    revision: Number(e.revision),
    position: Number(e.position?.commit ?? resolved.commitPosition ?? 0n),
    type: e.type,
    data: e.data as Record<string, unknown>,
    metadata,
    // The time the adapter hashed (events written before it kept one: the server's).
    recordedAt: typeof metadata?.recordedAt === 'string' ? metadata.recordedAt : e.created.toISOString(),
  };
}
