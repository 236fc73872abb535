import { hash } from 'node:crypto';
import stringify from 'safe-stable-stringify';
import type { EventMetadata, NewEvent, RecordedEvent } from './event-store.port';

/**
 * Tamper evidence: every event's metadata carries `hash`, a SHA-256 over its content and the
 * previous event's hash in the same stream (`prevHash`). Changing, removing or reordering an
 * event breaks the chain from that event on. The adapters seal events as they append them;
 * anyone can recompute the chain from the log alone.
 */
export const GENESIS_HASH = '0'.repeat(64);

type Hashable = Pick<RecordedEvent, 'id' | 'stream' | 'revision' | 'type' | 'data' | 'metadata'>;

/** The metadata the hash covers: all of it but the chain's own two fields. */
function unchained(metadata: EventMetadata): EventMetadata {
  if (!('hash' in metadata) && !('prevHash' in metadata)) return metadata;
  const { hash: _hash, prevHash: _prev, ...rest } = metadata;
  return rest;
}

/**
 * The text the hash covers: the stable JSON (keys sorted at every level) of the event's id,
 * stream, revision, type, data and metadata (less the hashes). It is composed from the stable
 * JSON of data and metadata, which the embedded store also keeps as the stored text: one
 * serialization of each instead of two. The whole sorts its keys as data, id, metadata,
 * revision, stream, type, so the composition is the same text as the stable JSON of the whole
 * object (a test holds it to that: chains already written were hashed over the whole).
 */
function content(e: Hashable, data: string, metadata: string): string {
  return `{"data":${data},"id":${stringify(e.id)},"metadata":${metadata},"revision":${stringify(e.revision)},"stream":${stringify(e.stream)},"type":${stringify(e.type)}}`;
}

// One-shot hashing of the joined string: the same digest as streaming the parts, a fifth of the cost.
const digest = (prevHash: string, text: string) => hash('sha256', `${prevHash}\n${text}`, 'hex');

/** The hash of an event given its predecessor's: over id, stream, revision, type, data and metadata (less the hashes). */
export function eventHash(prevHash: string, e: Hashable): string {
  return digest(prevHash, content(e, stringify(e.data), stringify(unchained(e.metadata))));
}

/** An event as it is stored: its place in the chain, and its data and metadata (with both hashes) as JSON text. */
export interface SealedEvent {
  event: NewEvent;
  prevHash: string;
  hash: string;
  data: string;
  metadata: string;
}

/** An event's metadata with its place in the chain. */
export function chainedMetadata(s: SealedEvent): EventMetadata {
  return { ...unchained(s.event.metadata), prevHash: s.prevHash, hash: s.hash };
}

/**
 * The events as they will be stored at revisions `firstRevision`, ... : each one's hash and its
 * predecessor's, and its JSON text (its data's stable JSON, and its metadata's with `prevHash`
 * and `hash` after the rest). Returns the last hash too.
 */
export function seal(stream: string, firstRevision: number, prevHash: string, events: readonly NewEvent[]): { sealed: SealedEvent[]; lastHash: string } {
  let prev = prevHash;
  const sealed = events.map((e, i): SealedEvent => {
    const covered = unchained(e.metadata);
    const dataJson = stringify(e.data);
    const metadataJson = stringify(covered);
    const hash = digest(prev, content({ id: e.id, stream, revision: firstRevision + i, type: e.type, data: e.data, metadata: covered }, dataJson, metadataJson));
    const sealedEvent: SealedEvent = { event: e, prevHash: prev, hash, data: dataJson, metadata: withChain(metadataJson, prev, hash) };
    prev = hash;
    return sealedEvent;
  });
  return { sealed, lastHash: prev };
}

/** An object's JSON text with `prevHash` and `hash` added after its own fields. */
function withChain(objectJson: string, prevHash: string, hash: string): string {
  const chain = `"prevHash":${stringify(prevHash)},"hash":${stringify(hash)}`;
  return objectJson === '{}' ? `{${chain}}` : `${objectJson.slice(0, -1)},${chain}}`;
}

export type ChainBreakReason = 'MISSING_HASH' | 'CONTENT_CHANGED' | 'PREVIOUS_HASH_MISMATCH' | 'REVISION_GAP';

export interface ChainBreak {
  revision: number;
  eventId: string;
  reason: ChainBreakReason;
  detail: string;
}

/** Checks a stream's events in revision order, a page at a time; keeps only what the next page needs. */
export class ChainVerifier {
  checked = 0;
  firstBreak: ChainBreak | null = null;
  private prevHash = GENESIS_HASH;
  private nextRevision = 0;

  /** Feeds the next events in order; returns false once a break is found (stop reading). */
  feed(events: readonly Hashable[]): boolean {
    for (const e of events) {
      if (this.firstBreak) return false;
      this.checked += 1;
      const stored = typeof e.metadata.hash === 'string' ? e.metadata.hash : null;
      const storedPrev = typeof e.metadata.prevHash === 'string' ? e.metadata.prevHash : null;
      if (e.revision !== this.nextRevision) {
        this.break(e, 'REVISION_GAP', `expected revision ${this.nextRevision}, found ${e.revision}: events are missing`);
      } else if (stored === null || storedPrev === null) {
        this.break(e, 'MISSING_HASH', 'the event carries no hash chain');
      } else if (storedPrev !== this.prevHash) {
        this.break(e, 'PREVIOUS_HASH_MISMATCH', 'the event does not follow the one before it in the stream');
      } else if (eventHash(storedPrev, e) !== stored) {
        this.break(e, 'CONTENT_CHANGED', 'the event content does not match its hash');
      } else {
        this.prevHash = stored;
        this.nextRevision += 1;
      }
    }
    return this.firstBreak === null;
  }

  get lastHash(): string {
    return this.prevHash;
  }

  private break(e: Hashable, reason: ChainBreakReason, detail: string): void {
    this.firstBreak = { revision: e.revision, eventId: e.id, reason, detail };
  }
}
