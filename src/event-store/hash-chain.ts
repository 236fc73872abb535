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

/** The hash of an event given its predecessor's: over id, stream, revision, type, data and metadata (less the hashes). */
export function eventHash(prevHash: string, e: Hashable): string {
  const { hash: _hash, prevHash: _prev, ...metadata } = e.metadata;
  const content = stringify({ id: e.id, stream: e.stream, revision: e.revision, type: e.type, data: e.data, metadata });
  // One-shot hashing of the joined string: the same digest as streaming the three parts, a fifth of the cost.
  return hash('sha256', `${prevHash}\n${content ?? ''}`, 'hex');
}

/** The events as they will be stored at revisions `firstRevision`, ... with the chain in their metadata. Returns the last hash too. */
export function seal(stream: string, firstRevision: number, prevHash: string, events: readonly NewEvent[]): { sealed: NewEvent[]; lastHash: string } {
  let prev = prevHash;
  const sealed = events.map((e, i) => {
    const metadata: EventMetadata = { ...e.metadata, prevHash: prev };
    const hash = eventHash(prev, { id: e.id, stream, revision: firstRevision + i, type: e.type, data: e.data, metadata });
    prev = hash;
    return { ...e, metadata: { ...metadata, hash } };
  });
  return { sealed, lastHash: prev };
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
