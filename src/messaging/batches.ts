import { setImmediate as nextTick, setTimeout as sleep } from 'node:timers/promises';
import { EventSubscription, RecordedEvent } from '../event-store/event-store.port';

export interface BatchOptions {
  batchSize: number;
  /** How long to wait for more events once at least one is in hand. 0: commit as soon as the log is caught up. */
  maxWaitMs: number;
}

const TIMEOUT = Symbol('timeout');

/**
 * Groups a subscription into batches: up to `batchSize` events, or fewer when no more
 * arrive within `maxWaitMs`. Yields to the event loop between batches so a long catch-up
 * (a rebuild) never starves the HTTP server.
 */
export async function* batches(sub: EventSubscription, options: BatchOptions): AsyncGenerator<RecordedEvent[]> {
  if (sub.pages && options.maxWaitMs === 0) {
    // The store reads in pages already: each page is a batch, without a promise per event.
    const pages = sub.pages(options.batchSize)[Symbol.asyncIterator]();
    let next = pages.next();
    try {
      for (;;) {
        const r = await next;
        if (r.done) return;
        // Read ahead, one turn of the event loop later: by then the consumer has handed this
        // batch's writes on (the read store's writer thread), so the next read overlaps them.
        next = nextTick().then(() => pages.next());
        yield r.value;
      }
    } finally {
      // A page read ahead that no one will take: its failure is nobody's to report.
      next.catch(() => undefined);
    }
  }
  const it = sub[Symbol.asyncIterator]();
  let pending = it.next();
  for (;;) {
    const first = await pending;
    if (first.done) return;
    const batch: RecordedEvent[] = [first.value];
    pending = it.next();
    const deadline: Promise<typeof TIMEOUT> =
      options.maxWaitMs > 0 ? sleep(options.maxWaitMs, TIMEOUT, { ref: false }) : nextTick(TIMEOUT);
    let ended = false;
    while (batch.length < options.batchSize) {
      const r = await Promise.race([pending, deadline]);
      if (r === TIMEOUT) break;
      if (r.done) {
        ended = true;
        break;
      }
      batch.push(r.value);
      pending = it.next();
    }
    yield batch;
    if (ended) return;
    await nextTick();
  }
}

/**
 * Events a live runner may pass over (none of its types) before it writes its checkpoint alone:
 * a restart re-reads at most this many events it ignores anyway, and the store is not written
 * once per event by every runner that has nothing to do with it.
 */
const SKIPS_BEFORE_CHECKPOINT = 256;

/** The one rule for when a live runner (projection or saga) may leave its checkpoint in memory. */
export class DeferredCheckpoint {
  private skipped = 0;

  /** True when a batch the runner has nothing for may move the checkpoint in memory only. */
  defer(handledAny: boolean, batchLength: number): boolean {
    if (handledAny || this.skipped + batchLength >= SKIPS_BEFORE_CHECKPOINT) return false;
    this.skipped += batchLength;
    return true;
  }

  /** The checkpoint was written: the count of ignored events starts again. */
  written(): void {
    this.skipped = 0;
  }
}
