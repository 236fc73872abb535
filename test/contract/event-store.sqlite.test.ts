import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { eventStoreContract, newEvent } from './event-store.contract';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function open(groupCommit: boolean) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drydock-es-'));
    dirs.push(dir);
    return new SqliteEventStore(join(dir, 'events.db'), { groupCommit });
  };
}

eventStoreContract('sqlite (group commit)', open(true));
eventStoreContract('sqlite (one transaction per append)', open(false));

describe('sqlite event store: two connections on one file (two processes)', () => {
  it("a subscriber sees the other connection's appends, woken by the file change, not by polling", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drydock-es-'));
    dirs.push(dir);
    // An idle wake of a minute: only the file notification can deliver within the test's time.
    const reader = new SqliteEventStore(join(dir, 'events.db'), { idleWakeMs: 60_000 });
    const writer = new SqliteEventStore(join(dir, 'events.db'));
    const sub = reader.subscribeToAll({ after: 'start' });
    const got: string[] = [];
    const reading = (async () => {
      for await (const e of sub) if (got.push(e.stream) === 3) return;
    })();
    await writer.append('other-1', [newEvent('A')], 'no_stream');
    await new Promise((r) => setTimeout(r, 100));
    await writer.append('other-2', [newEvent('A'), newEvent('B')], 'no_stream');
    try {
      await Promise.race([reading, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${got.length} arrived`)), 5000).unref())]);
      expect(got).toEqual(['other-1', 'other-2', 'other-2']);
    } finally {
      await sub.close();
      await writer.close();
      await reader.close();
    }
  });
});

describe('sqlite event store: page-by-page subscriptions', () => {
  it('deliver the same events as event by event, in pages of at most the size asked, and refuse a second reader', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drydock-es-'));
    dirs.push(dir);
    const store = new SqliteEventStore(join(dir, 'events.db'), { subscriptionBatchSize: 64 });
    for (let i = 0; i < 30; i++) await store.append(`p-${i}`, Array.from({ length: 10 }, () => newEvent('P')), 'no_stream');
    const byEvent = store.subscribeToAll();
    const one: string[] = [];
    for await (const e of byEvent) if (one.push(e.id) === 300) break;
    await byEvent.close();
    const byPage = store.subscribeToAll();
    const sizes: number[] = [];
    const paged: string[] = [];
    for await (const page of byPage.pages!(50)) {
      sizes.push(page.length);
      paged.push(...page.map((e) => e.id));
      if (paged.length >= 300) break;
    }
    expect(() => byPage[Symbol.asyncIterator]()).toThrow(/either event by event or page by page/);
    await byPage.close();
    expect(paged).toEqual(one);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(50);
    await store.close();
  });
});
