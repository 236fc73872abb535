import { setImmediate as turn } from 'node:timers/promises';
import type { EventSubscription, RecordedEvent } from '../../src/event-store/event-store.port';
import { batches } from '../../src/messaging/batches';

const event = (position: number): RecordedEvent => ({
  id: `e${position}`,
  stream: 's',
  revision: position - 1,
  position,
  type: 'T',
  data: {},
  metadata: { actor: 't', correlationId: 'c', causationId: null, requestId: null, occurredAt: '2026-01-01T00:00:00Z', schemaVersion: 1 },
  recordedAt: '2026-01-01T00:00:00Z',
});

/** A subscription that reads pages of the given sizes, failing on read number `failOn` (1-based), and counts its reads. */
function paged(sizes: number[], failOn?: number) {
  const log = { reads: 0 };
  let position = 0;
  const sub: EventSubscription = {
    [Symbol.asyncIterator]: () => {
      throw new Error('read page by page only');
    },
    pages: async function* () {
      for (const size of sizes) {
        log.reads += 1;
        if (log.reads === failOn) throw new Error(`read ${log.reads} failed`);
        yield Array.from({ length: size }, () => event(++position));
      }
    },
    close: async () => undefined,
  };
  return { sub, log };
}

describe('batches over a paged subscription', () => {
  it('reads the next page one turn after handing a page over, before the consumer asks for it', async () => {
    const { sub, log } = paged([3, 3, 3]);
    const it = batches(sub, { batchSize: 3, maxWaitMs: 0 });
    const first = await it.next();
    expect((first.value as RecordedEvent[]).map((e) => e.position)).toEqual([1, 2, 3]);
    expect(log.reads).toBe(1);
    await turn();
    await turn();
    expect(log.reads).toBe(2);
    const second = await it.next();
    expect((second.value as RecordedEvent[]).map((e) => e.position)).toEqual([4, 5, 6]);
    await it.return(undefined);
  });

  it('hands every page over in order, then ends', async () => {
    const { sub } = paged([2, 1, 2]);
    const seen: number[][] = [];
    for await (const b of batches(sub, { batchSize: 2, maxWaitMs: 0 })) seen.push(b.map((e) => e.position));
    expect(seen).toEqual([[1, 2], [3], [4, 5]]);
  });

  it('a failed read the consumer waits for is the consumer\'s error', async () => {
    const { sub } = paged([2, 2], 2);
    const it = batches(sub, { batchSize: 2, maxWaitMs: 0 });
    await it.next();
    await expect(it.next()).rejects.toThrow('read 2 failed');
  });

  it('a failed read-ahead nobody takes (the consumer stopped) is no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const { sub, log } = paged([2, 2], 2);
      const it = batches(sub, { batchSize: 2, maxWaitMs: 0 });
      await it.next();
      await turn();
      await turn();
      expect(log.reads).toBe(2); // the read ahead happened, and failed
      await it.return(undefined);
      for (let i = 0; i < 5; i++) await turn();
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
