import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { EventStore, NewEvent, RecordedEvent, StreamNotFoundError, WrongExpectedRevisionError } from './event-store.port';

/**
 * Seals: the log's own record of where each stream ended. A stream's hash chain shows any change
 * inside it, but not its newest events removed together, nor the whole stream removed. So, from
 * time to time, a seal event records the head (last revision and hash) of every stream that moved
 * since the previous seal. Seals are a stream of their own, chained like any other, and each takes
 * up where the one before it stopped: together they cover the log from its start to the last
 * seal's `through`. A stream that no longer reaches the head a seal recorded, or reaches it with
 * another hash, was cut or written again (`verifyLog`).
 */
export const SEAL_STREAM = 'log-seals';
export const SEAL_EVENT_TYPE = 'LogSealed';

/** A stream's last event as a seal recorded it. */
export interface SealedHead {
  stream: string;
  revision: number;
  /** Its hash; null for an event without a chain. */
  hash: string | null;
}

/**
 * A seal's data: the heads, as of the log position `through`, of every stream with an event after
 * `from` and up to `through` (the previous seal's `through`, 0 for the first).
 */
export type SealData = {
  from: number;
  through: number;
  heads: SealedHead[];
};

/**
 * At most this many heads in one seal, and about this many bytes of them (a large round writes
 * several seals): each seal event stays well below EventStoreDB's 1 MB append.
 */
export const MAX_SEALED_HEADS = 1000;
const MAX_SEAL_BYTES = 512 * 1024;
/** A head's bytes in a seal besides its stream's name: the hash, the revision, the JSON around them. */
const HEAD_BYTES = 120;

const isPosition = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** A seal event's data, checked; a string saying what is wrong with it otherwise. */
export function readSeal(e: Pick<RecordedEvent, 'type' | 'data'>): SealData | string {
  if (e.type !== SEAL_EVENT_TYPE) return `an event of type ${e.type} in the seal stream`;
  const { from, through, heads } = e.data as Partial<Record<keyof SealData, unknown>>;
  if (!isPosition(from) || !isPosition(through) || through < from) return 'the seal does not say which positions it covers';
  if (!Array.isArray(heads)) return 'the seal holds no list of heads';
  for (const h of heads as unknown[]) {
    const head = h as Partial<Record<keyof SealedHead, unknown>> | null;
    if (!head || typeof head.stream !== 'string' || !isPosition(head.revision) || (head.hash !== null && typeof head.hash !== 'string')) return 'the seal holds a head that is not a stream, revision and hash';
  }
  return { from, through, heads: heads as SealedHead[] };
}

export interface SealOptions {
  /** Who writes the seals, as the events' actor. */
  actor: string;
  /** Events read a page at a time. */
  pageSize?: number;
  maxHeads?: number;
  /** Asked between pages: true stops the round (what was sealed so far stays sealed). */
  stop?: () => boolean;
}

export interface SealRound {
  /** Seal events written. */
  seals: number;
  /** Streams whose heads they hold. */
  heads: number;
  /** The position the log is now sealed through (the last seal's `through`). */
  through: number;
}

/**
 * One round: reads the log after the last seal's `through` up to the head and writes seals of the
 * heads of the streams that moved. A round in which only the seals moved writes none. Each seal
 * is one append pinned to the seal before it, so of two writers one wins (the other stops), and a
 * crash between two seals leaves a whole seal behind: the next round starts after it.
 * Memory: the heads of one seal (at most `maxHeads` streams).
 */
export async function sealLog(log: EventStore, options: SealOptions): Promise<SealRound> {
  const pageSize = options.pageSize ?? 1000;
  const maxHeads = options.maxHeads ?? MAX_SEALED_HEADS;
  let last: RecordedEvent | undefined;
  try {
    [last] = await log.readStream(SEAL_STREAM, { direction: 'backwards', maxCount: 1 });
  } catch (err) {
    if (!(err instanceof StreamNotFoundError)) throw err;
  }
  let expected: number | 'no_stream' = last ? last.revision : 'no_stream';
  const previous = last ? readSeal(last) : null;
  if (typeof previous === 'string') throw new Error(`the last seal (${SEAL_STREAM} revision ${last!.revision}) cannot be read: ${previous}`);
  let from = previous?.through ?? 0;
  const round: SealRound = { seals: 0, heads: 0, through: from };
  const head = await log.headPosition();
  const heads = new Map<string, RecordedEvent>();
  let bytes = 0;
  let through = from;

  const write = async (): Promise<boolean> => {
    // The seals alone moved: nothing to seal (or every round would seal the one before it).
    if (heads.size === 0 || (heads.size === 1 && heads.has(SEAL_STREAM))) return true;
    const data: SealData = { from, through, heads: [...heads.values()].map((e) => ({ stream: e.stream, revision: e.revision, hash: typeof e.metadata.hash === 'string' ? e.metadata.hash : null })) };
    const event: NewEvent = {
      id: randomUUID(),
      type: SEAL_EVENT_TYPE,
      data,
      metadata: { actor: options.actor, correlationId: randomUUID(), causationId: null, requestId: null, occurredAt: new Date().toISOString(), schemaVersion: 1 },
    };
    try {
      expected = (await log.append(SEAL_STREAM, [event], expected)).nextExpectedRevision;
    } catch (err) {
      // Another writer sealed meanwhile (the lease changed hands): the round is theirs now.
      if (err instanceof WrongExpectedRevisionError) return false;
      throw err;
    }
    round.seals += 1;
    round.heads += data.heads.length;
    round.through = through;
    from = through;
    heads.clear();
    bytes = 0;
    return true;
  };

  for (let cursor = from; cursor < head; ) {
    if (options.stop?.()) return round;
    const page = await log.readAll({ from: cursor, maxCount: pageSize });
    for (const e of page) {
      if (e.position > head) break;
      if (!heads.has(e.stream)) {
        const size = Buffer.byteLength(e.stream) + HEAD_BYTES;
        if ((heads.size >= maxHeads || bytes + size > MAX_SEAL_BYTES) && heads.size > 0 && !(await write())) return round;
        bytes += size;
      }
      heads.set(e.stream, e);
      through = e.position;
    }
    if (page.length < pageSize) break;
    cursor = page[page.length - 1].position;
    // A first round over a long log leaves the event loop to the rest of the app between pages.
    await yieldToLoop();
  }
  await write();
  return round;
}
