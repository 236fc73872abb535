import { hash } from 'node:crypto';
import stringify from 'safe-stable-stringify';
import { FIRST_POSITION, isAssignablePosition, type EventMetadata, type NewEvent, type RecordedEvent } from './event-store.port';

/**
 * Tamper evidence: every event's metadata carries `hash`, a SHA-256 over its content and the
 * previous event's hash in the same stream (`prevHash`). Changing, removing or reordering an
 * event breaks the chain from that event on. The adapters chain events as they append them;
 * anyone can recompute the chain from the log alone.
 *
 * What the hash covers is the event as the store keeps it, and the metadata's `hashVersion` says
 * which fields that is (`HASH_VERSIONS`): every version covers the id, stream, revision, type,
 * data and metadata (less the two hashes; what caused the event is in the metadata, and a store
 * that indexes it apart hands out the indexed value there, so an edit of either breaks the chain).
 * Version 2 adds when the event was recorded; version 3 adds its global position too. A chain
 * written with an earlier version still verifies by that version's rule, and a stream may hold
 * several versions, one after another.
 */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * 1 (no `hashVersion`): chains written before the version was recorded.
 * 2: + `recordedAt`. EventStoreDB, which gives an event its position as it commits it, after the hash.
 * 3: + `recordedAt` and `position`. The embedded store, which assigns both before it hashes.
 */
export const HASH_VERSIONS = [1, 2, 3] as const;
export type HashVersion = (typeof HASH_VERSIONS)[number];

type Hashable = Pick<RecordedEvent, 'id' | 'stream' | 'revision' | 'position' | 'recordedAt' | 'type' | 'data' | 'metadata'>;

/** What the store keeps of an event besides its content, fixed before it is hashed. */
export interface StoredFields {
  recordedAt: string;
  /** The global position of the first event; absent when the store assigns it as it commits (version 2). */
  firstPosition?: number;
}

/** The metadata the hash covers: all of it but the chain's own two fields. */
function unchained(metadata: EventMetadata): EventMetadata {
  if (!('hash' in metadata) && !('prevHash' in metadata)) return metadata;
  const { hash: _hash, prevHash: _prev, ...rest } = metadata;
  return rest;
}

/** The version of the hash an event was chained with, or null when its metadata names none we know. */
export function hashVersionOf(metadata: EventMetadata): HashVersion | null {
  const v = metadata.hashVersion;
  if (v === undefined) return 1;
  return (HASH_VERSIONS as readonly unknown[]).includes(v) ? (v as HashVersion) : null;
}

/**
 * The text the hash covers: the stable JSON (keys sorted at every level) of the event's id,
 * stream, revision, type, data and metadata (less the hashes), with `recordedAt` from version 2
 * and `position` from version 3. It is composed from the stable JSON of data and metadata, which
 * the embedded store also keeps as the stored text: one serialization of each instead of two.
 * The keys are in the order the stable JSON of the whole object sorts them (data, id, metadata,
 * position, recordedAt, revision, stream, type), so the composition is that very text (a test
 * holds it to that: chains already written were hashed over the whole).
 */
function content(e: Hashable, data: string, metadata: string, version: HashVersion): string {
  const position = version >= 3 ? `,"position":${stringify(e.position)}` : '';
  const recordedAt = version >= 2 ? `,"recordedAt":${stringify(e.recordedAt)}` : '';
  return `{"data":${data},"id":${stringify(e.id)},"metadata":${metadata}${position}${recordedAt},"revision":${stringify(e.revision)},"stream":${stringify(e.stream)},"type":${stringify(e.type)}}`;
}

// One-shot hashing of the joined string: the same digest as streaming the parts, a fifth of the cost.
const digest = (prevHash: string, text: string) => hash('sha256', `${prevHash}\n${text}`, 'hex');

/** The hash of an event given its predecessor's, by the rule of the version its metadata names (null: a version unknown here). */
export function eventHash(prevHash: string, e: Hashable): string | null {
  const version = hashVersionOf(e.metadata);
  if (version === null) return null;
  return digest(prevHash, content(e, stringify(e.data), stringify(unchained(e.metadata)), version));
}

/** An event as it is stored: its place in the chain, and its data and metadata (with both hashes) as JSON text. */
export interface ChainedEvent {
  event: NewEvent;
  /** The metadata the hash covers: the event's own, with `hashVersion`. */
  metadata: EventMetadata;
  prevHash: string;
  hash: string;
  dataJson: string;
  metadataJson: string;
}

/** An event's metadata with its place in the chain. */
export function chainedMetadata(c: ChainedEvent): EventMetadata {
  return { ...c.metadata, prevHash: c.prevHash, hash: c.hash };
}

/**
 * The events as they will be stored at revisions `firstRevision`, ... : each one's hash and its
 * predecessor's, and its JSON text (its data's stable JSON, and its metadata's with `prevHash`
 * and `hash` after the rest). The hash is of the newest version the store's fields allow: 3 with
 * positions, 2 without. Returns the last hash too.
 */
export function chain(stream: string, firstRevision: number, prevHash: string, events: readonly NewEvent[], stored: StoredFields): { chained: ChainedEvent[]; lastHash: string } {
  const version: HashVersion = stored.firstPosition === undefined ? 2 : 3;
  let prev = prevHash;
  const chained = events.map((e, i): ChainedEvent => {
    const covered: EventMetadata = { ...unchained(e.metadata), hashVersion: version };
    const dataJson = stringify(e.data);
    const coveredJson = stringify(covered);
    const position = stored.firstPosition === undefined ? 0 : stored.firstPosition + i;
    const fields = { id: e.id, stream, revision: firstRevision + i, position, recordedAt: stored.recordedAt, type: e.type, data: e.data, metadata: covered };
    const hash = digest(prev, content(fields, dataJson, coveredJson, version));
    const c: ChainedEvent = { event: e, metadata: covered, prevHash: prev, hash, dataJson, metadataJson: withChain(coveredJson, prev, hash) };
    prev = hash;
    return c;
  });
  return { chained, lastHash: prev };
}

/** An object's JSON text with `prevHash` and `hash` added after its own fields. */
function withChain(objectJson: string, prevHash: string, hash: string): string {
  const link = `"prevHash":${stringify(prevHash)},"hash":${stringify(hash)}`;
  return objectJson === '{}' ? `{${link}}` : `${objectJson.slice(0, -1)},${link}}`;
}

/**
 * Besides the hashes: `REVISION_GAP`, the next revision is not the one after the last;
 * `POSITION_OUT_OF_RANGE`, an event at a position no store assigns (below `FIRST_POSITION`);
 * `POSITION_OUT_OF_ORDER`, a revision at a position before its predecessor's (a stream's events are
 * in log order, each after the one before it).
 */
export type ChainBreakReason =
  | 'MISSING_HASH'
  | 'UNKNOWN_HASH_VERSION'
  | 'CONTENT_CHANGED'
  | 'PREVIOUS_HASH_MISMATCH'
  | 'REVISION_GAP'
  | 'POSITION_OUT_OF_RANGE'
  | 'POSITION_OUT_OF_ORDER';

export interface ChainBreak {
  revision: number;
  eventId: string;
  reason: ChainBreakReason;
  detail: string;
}

/**
 * Checks a stream's events in order (of revision, or of position: each shows the other out of
 * order), a page at a time; keeps only what the next page needs.
 */
export class ChainVerifier {
  checked = 0;
  firstBreak: ChainBreak | null = null;
  private prevHash = GENESIS_HASH;
  private nextRevision = 0;
  private lastPosition = FIRST_POSITION - 1;

  /** Feeds the next events in order; returns false once a break is found (stop reading). */
  feed(events: readonly Hashable[]): boolean {
    for (const e of events) if (!this.next(e)) return false;
    return this.firstBreak === null;
  }

  /** Checks one more event; false once the chain is broken (at this event or before). */
  next(e: Hashable): boolean {
    if (this.firstBreak) return false;
    this.checked += 1;
    const stored = typeof e.metadata.hash === 'string' ? e.metadata.hash : null;
    const storedPrev = typeof e.metadata.prevHash === 'string' ? e.metadata.prevHash : null;
    if (!isAssignablePosition(e.position)) {
      this.break(e, 'POSITION_OUT_OF_RANGE', `the event is at position ${e.position}, which no store assigns (positions start at ${FIRST_POSITION}): it was put in the log by hand`);
    } else if (e.revision !== this.nextRevision) {
      this.break(e, 'REVISION_GAP', `expected revision ${this.nextRevision}, found ${e.revision}: events are missing or out of order`);
    } else if (e.position <= this.lastPosition) {
      this.break(e, 'POSITION_OUT_OF_ORDER', `the event is at position ${e.position}, before revision ${e.revision - 1} at position ${this.lastPosition}: the stream's events are not in log order`);
    } else if (stored === null || storedPrev === null) {
      this.break(e, 'MISSING_HASH', 'the event carries no hash chain');
    } else if (storedPrev !== this.prevHash) {
      this.break(e, 'PREVIOUS_HASH_MISMATCH', 'the event does not follow the one before it in the stream');
    } else {
      const computed = eventHash(storedPrev, e);
      if (computed === null) this.break(e, 'UNKNOWN_HASH_VERSION', `the event names hash version ${JSON.stringify(e.metadata.hashVersion)}, which is not one of ${HASH_VERSIONS.join(', ')}`);
      else if (computed !== stored) this.break(e, 'CONTENT_CHANGED', 'the event as stored does not match its hash');
      else {
        this.prevHash = stored;
        this.nextRevision += 1;
        this.lastPosition = e.position;
      }
    }
    return this.firstBreak === null;
  }

  get lastHash(): string {
    return this.prevHash;
  }

  /** The revision of the last event verified, -1 before the first. */
  get lastRevision(): number {
    return this.nextRevision - 1;
  }

  private break(e: Hashable, reason: ChainBreakReason, detail: string): void {
    this.firstBreak = { revision: e.revision, eventId: e.id, reason, detail };
  }
}
