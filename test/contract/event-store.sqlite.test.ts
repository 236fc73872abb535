import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, type SqliteEventStoreOptions } from '../../src/event-store/sqlite/sqlite-event-store';
import { DuplicateEventIdError, EventStoreFullError, StreamNotFoundError, WrongExpectedRevisionError, type EventSubscription, type RecordedEvent } from '../../src/event-store/event-store.port';
import { eventStoreContract, newEvent } from './event-store.contract';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A store on a fresh file in a directory of its own (removed after the suite). */
function fresh(options: SqliteEventStoreOptions = {}): SqliteEventStore {
  const dir = mkdtempSync(join(tmpdir(), 'drydock-es-'));
  dirs.push(dir);
  return new SqliteEventStore(join(dir, 'events.db'), options);
}

function open(groupCommit: boolean) {
  return async () => fresh({ groupCommit });
}

/** Reads `count` events from a live subscription in the background; `arrived(ms)` waits for them, or fails saying how many came. */
function collect(sub: EventSubscription, count: number) {
  const got: RecordedEvent[] = [];
  const reading = (async () => {
    for await (const e of sub) if (got.push(e) === count) return;
  })();
  const arrived = (ms: number) => Promise.race([reading, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${got.length} of ${count} arrived`)), ms).unref())]);
  return { got, arrived };
}

/** Two connections on one new file, as two processes would have; `close()` ends a subscription and both. */
function twoConnections(ownOptions: SqliteEventStoreOptions = {}, name = 'events.db') {
  const dir = mkdtempSync(join(tmpdir(), 'drydock-es-'));
  dirs.push(dir);
  const own = new SqliteEventStore(join(dir, name), ownOptions);
  const other = new SqliteEventStore(join(dir, name));
  const close = async (sub: EventSubscription) => {
    await sub.close();
    await other.close();
    await own.close();
  };
  return { own, other, close };
}

eventStoreContract('sqlite (group commit)', open(true));
eventStoreContract('sqlite (one transaction per append)', open(false));

describe('sqlite event store: two connections on one file (two processes)', () => {
  it("a subscriber sees the other connection's appends, woken by the file change, not by polling", async () => {
    // An idle wake of a minute: only the file notification can deliver within the test's time.
    const { own: reader, other: writer, close } = twoConnections({ idleWakeMs: 60_000 });
    const sub = reader.subscribeToAll({ after: 'start' });
    const { got, arrived } = collect(sub, 3);
    await writer.append('other-1', [newEvent('A')], 'no_stream');
    await new Promise((r) => setTimeout(r, 100));
    await writer.append('other-2', [newEvent('A'), newEvent('B')], 'no_stream');
    try {
      await arrived(5000);
      expect(got.map((e) => e.stream)).toEqual(['other-1', 'other-2', 'other-2']);
    } finally {
      await close(sub);
    }
  });
});

describe('sqlite event store: the shared tail', () => {
  it("hands live subscribers exactly what a read of the log returns: its own commits, grouped or not, and another connection's in between", async () => {
    for (const groupCommit of [true, false]) {
      const { own, other, close } = twoConnections({ groupCommit });
      const sub = own.subscribeToAll({ after: 'start' });
      const { got, arrived } = collect(sub, 9);
      const caused = newEvent('Caused', { n: 1 });
      caused.metadata.causationId = 'cause-1';
      await Promise.all([own.append('t1', [caused, newEvent('B', { n: 2 })], 'no_stream'), own.append('t2', [newEvent('C', { n: 3 })], 'no_stream')]);
      await other.append('t3', [newEvent('D', { n: 4 })], 'no_stream');
      await own.append('t1', [newEvent('E', { nested: { deep: [1, 2] } })], 1);
      await Promise.all([own.append('t4', [newEvent('F')], 'no_stream'), other.append('t5', [newEvent('G')], 'no_stream')]);
      await own.append('t4', [newEvent('H'), newEvent('I')], 0);
      try {
        await arrived(5000);
        const shape = (e: RecordedEvent) => ({ id: e.id, stream: e.stream, revision: e.revision, position: e.position, type: e.type, data: e.data, metadata: e.metadata, recordedAt: e.recordedAt });
        const read = await own.readAll({ maxCount: 100 });
        expect(read).toHaveLength(9);
        expect(got.map(shape)).toEqual(read.map(shape));
        expect(got.find((e) => e.type === 'Caused')?.metadata.causationId).toBe('cause-1');
      } finally {
        await close(sub);
      }
    }
  });
});

describe('sqlite event store: the idle wake-up', () => {
  it("still delivers the other connection's appends when no file notification reports them", async () => {
    const { own: reader, other: writer, close } = twoConnections({ idleWakeMs: 50 });
    // A platform without file watching: only the idle wake-up can find the commits.
    (reader as unknown as { ensureWatcher(): void }).ensureWatcher = () => undefined;
    const sub = reader.subscribeToAll({ after: 'start' });
    const { got, arrived } = collect(sub, 2);
    await new Promise((r) => setTimeout(r, 120));
    await writer.append('quiet-1', [newEvent('A')], 'no_stream');
    await new Promise((r) => setTimeout(r, 120));
    await writer.append('quiet-2', [newEvent('A')], 'no_stream');
    try {
      await arrived(3000);
      expect(got.map((e) => e.stream)).toEqual(['quiet-1', 'quiet-2']);
    } finally {
      await close(sub);
    }
  });
});

describe('sqlite event store: page-by-page subscriptions', () => {
  it('deliver the same events as event by event, in pages of at most the size asked, and refuse a second reader', async () => {
    const store = fresh({ subscriptionBatchSize: 64 });
    for (let i = 0; i < 30; i++) await store.append(`p-${i}`, Array.from({ length: 10 }, () => newEvent('P')), 'no_stream');
    const byEvent = store.subscribeToAll();
    const one: string[] = [];
    for await (const e of byEvent) if (one.push(e.id) === 300) break;
    await byEvent.close();
    // The first 300 events, at most `size` a page: the ids in order and each page's length.
    const readPages = async (sub: EventSubscription, size: number) => {
      const sizes: number[] = [];
      const ids: string[] = [];
      for await (const page of sub.pages!(size)) {
        sizes.push(page.length);
        ids.push(...page.map((e) => e.id));
        if (ids.length >= 300) break;
      }
      return { sizes, ids };
    };
    const byPage = store.subscribeToAll();
    const small = await readPages(byPage, 50);
    expect(() => byPage[Symbol.asyncIterator]()).toThrow(/either event by event or page by page/);
    await byPage.close();
    expect(small.ids).toEqual(one);
    expect(Math.max(...small.sizes)).toBeLessThanOrEqual(50);
    // A reader of larger pages than the store's read size (a rebuild) reads that much at a time.
    const largeSub = store.subscribeToAll();
    const large = await readPages(largeSub, 200);
    await largeSub.close();
    expect(large.ids).toEqual(one);
    expect(large.sizes[0]).toBe(200);
    await store.close();
  });
});

describe('sqlite event store: the shared tail', () => {
  it('keeps the rows a slower reader inside it still needs, and serves them to it (the same event objects) without reads of its own', async () => {
    const store = fresh({ subscriptionBatchSize: 100 });
    // 12,000 events: three times the 4,096 rows the tail keeps when nobody needs more.
    for (let i = 0; i < 120; i++) await store.append(`t-${i}`, Array.from({ length: 100 }, () => newEvent('T')), 'no_stream');
    const fast = store.subscribeToAll().pages!(100)[Symbol.asyncIterator]();
    const slow = store.subscribeToAll().pages!(100)[Symbol.asyncIterator]();
    // Both start together; the slow one stops after its first page, the fast one reads to the head.
    const first = await slow.next();
    expect((first.value as Array<{ position: number }>).at(-1)!.position).toBe(100);
    const fastEvents = new Map<number, unknown>();
    let seen = 0;
    while (seen < 12_000) {
      const page = (await fast.next()).value as Array<{ position: number }>;
      for (const e of page) fastEvents.set(e.position, e);
      seen += page.length;
    }
    // What the test cannot see from outside: the tail still starts at or before the slow reader.
    const tail = (store as unknown as { tail: { from: number; rows: unknown[] } }).tail;
    expect(tail.from).toBeLessThanOrEqual(100);
    // The slow reader catches up on the kept rows, in order, with no read of the file of its own.
    const own = jest.spyOn((store as unknown as { stmts: { envelopesForwards: { all: () => unknown } } }).stmts.envelopesForwards, 'all');
    let position = 100;
    while (position < 12_000) {
      const page = (await slow.next()).value as Array<{ position: number }>;
      expect(page[0].position).toBe(position + 1);
      // The very objects the other reader had: one event object per row of the tail, made once.
      expect(page[0]).toBe(fastEvents.get(page[0].position));
      position = page.at(-1)!.position;
    }
    expect(own).not.toHaveBeenCalled();
    await fast.return!(undefined);
    await slow.return!(undefined);
    await store.close();
  });
});

describe('sqlite event store: what a connection knows of a stream\'s end', () => {
  it('a read past the end finds nothing without a query, and finds what another connection appended since', async () => {
    const a = fresh();
    const file = (a as unknown as { file: string }).file;
    const b = new SqliteEventStore(file);
    const first = await a.append('k-1', [newEvent('A')], 'no_stream');
    expect(await a.readStream('k-1', { fromRevision: first.nextExpectedRevision + 1 })).toEqual([]);
    const asked = jest.spyOn((a as unknown as { stmts: { streamForwardsAll: { all: () => unknown } } }).stmts.streamForwardsAll, 'all');
    expect(await a.readStream('k-1', { fromRevision: 1 })).toEqual([]);
    expect(asked).not.toHaveBeenCalled();
    // Another connection (another process) appends: this one's knowledge is dropped, and it reads.
    await b.append('k-1', [newEvent('B')], 0);
    expect((await a.readStream('k-1', { fromRevision: 1 })).map((e) => e.type)).toEqual(['B']);
    expect(asked).toHaveBeenCalled();
    // A stream it never saw is still a typed error.
    await expect(a.readStream('k-missing', { fromRevision: 3 })).rejects.toBeInstanceOf(StreamNotFoundError);
    // A decision made on what it knew is refused at its append, and the next read finds the rest.
    const c = new SqliteEventStore(file, { groupCommit: false });
    await c.append('k-1', [newEvent('C')], 1);
    await expect(a.append('k-1', [newEvent('late')], 1)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    expect((await a.readStream('k-1', { fromRevision: 2 })).map((e) => e.type)).toEqual(['C']);
    await c.close();
    await b.close();
    await a.close();
  });
});

describe('sqlite event store: stream reads past the end', () => {
  it('find nothing on a stream that exists, and a typed error on one that does not', async () => {
    const store = fresh();
    await store.append('end-1', [newEvent('A'), newEvent('B')], 'no_stream');
    expect(await store.readStream('end-1', { fromRevision: 2 })).toEqual([]);
    await expect(store.readStream('end-2', { fromRevision: 2 })).rejects.toBeInstanceOf(StreamNotFoundError);
    await expect(store.readStream('end-2')).rejects.toBeInstanceOf(StreamNotFoundError);
    await store.close();
  });
});

describe('sqlite event store: one group commit, several appends', () => {
  it('a retried one-event append is answered again whatever it expected, even after the stream moved on', async () => {
    const store = fresh();
    const e = newEvent('A');
    const first = await store.append('r-1', [e], 'no_stream');
    await store.append('r-1', [newEvent('B')], 'any');
    for (const expected of ['no_stream', 'any', 'stream_exists', 0, 7] as const) expect(await store.append('r-1', [e], expected)).toEqual(first);
    expect((await store.readStream('r-1')).map((x) => x.type)).toEqual(['A', 'B']);
    await expect(store.append('r-2', [e], 'any')).rejects.toBeInstanceOf(DuplicateEventIdError);
    await store.close();
  });

  it('a rejected append in a group writes nothing of its own, and the appends beside it still commit', async () => {
    const store = fresh();
    const taken = newEvent('Taken');
    await store.append('g-0', [taken], 'no_stream');
    const twice = newEvent('Twice');
    // Issued in one turn of the event loop: they share one transaction.
    const outcomes = await Promise.allSettled([
      store.append('g-1', [newEvent('A')], 'no_stream'),
      store.append('g-2', [newEvent('B'), { ...taken }], 'no_stream'),
      store.append('g-3', [twice, { ...twice }], 'no_stream'),
      store.append('g-4', [newEvent('C')], 5),
      store.append('g-5', [newEvent('D'), newEvent('E')], 'no_stream'),
      // One event whose id is taken: its insert fails alone, inside the group's transaction.
      store.append('g-6', [{ ...taken }], 'no_stream'),
      store.append('g-7', [newEvent('F')], 'no_stream'),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect([1, 2, 3, 5].map((i) => (outcomes[i] as PromiseRejectedResult).reason.constructor.name)).toEqual([
      'DuplicateEventIdError',
      'DuplicateEventIdError',
      'WrongExpectedRevisionError',
      'DuplicateEventIdError',
    ]);
    for (const empty of ['g-2', 'g-3', 'g-4', 'g-6']) await expect(store.readStream(empty)).rejects.toThrow(/not found/i);
    expect((await store.readStream('g-1')).map((e) => e.type)).toEqual(['A']);
    expect((await store.readStream('g-5')).map((e) => e.type)).toEqual(['D', 'E']);
    expect((await store.readAll()).map((e) => e.stream)).toEqual(['g-0', 'g-1', 'g-5', 'g-5', 'g-7']);
    await store.close();
  });
});

describe('sqlite event store: on disk before acknowledged or read', () => {
  /** Holds every WAL sync until released (then lets them through): the disk, paused. */
  function pauseSyncs() {
    const fs = require('node:fs') as typeof import('node:fs');
    const real = fs.fdatasync;
    const held: Array<() => void> = [];
    let paused = true;
    const spy = jest.spyOn(fs, 'fdatasync').mockImplementation(((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      if (paused) held.push(() => real(fd, cb));
      else real(fd, cb);
    }) as typeof fs.fdatasync);
    return {
      held,
      /** Lets the syncs held so far run, and holds the next ones. */
      pass: () => held.splice(0).forEach((go) => go()),
      release: () => {
        paused = false;
        held.splice(0).forEach((go) => go());
      },
      restore: () => spy.mockRestore(),
    };
  }
  const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

  it('a grouped append is acknowledged, and handed to any reader of either connection, only after the WAL is synced', async () => {
    const store = fresh();
    const file = (store as unknown as { file: string }).file;
    const other = new SqliteEventStore(file);
    await store.append('d-0', [newEvent('Before')], 'no_stream');
    const sub = store.subscribeToAll({ after: (await store.readAll())[0].position });
    const seen: string[] = [];
    const reading = (async () => {
      for await (const e of sub) if (seen.push(e.type) === 1) return;
    })();
    const disk = pauseSyncs();
    try {
      let acknowledged = false;
      const appending = store.append('d-1', [newEvent('Durable')], 'no_stream').then(() => (acknowledged = true));
      while (disk.held.length === 0) await tick(5);
      // Committed (another connection's query finds the row) but not yet synced: nobody has it.
      const reads = { all: false, stream: false, head: false };
      const fromOther = other.readAll().then((r) => ((reads.all = true), r));
      const streamOnOther = other.readStream('d-1').then((r) => ((reads.stream = true), r));
      const head = store.headPosition().then((h) => ((reads.head = true), h));
      await tick();
      expect(acknowledged).toBe(false);
      expect(reads).toEqual({ all: false, stream: false, head: false });
      expect(seen).toEqual([]);
      disk.release();
      await appending;
      expect((await fromOther).map((e) => e.type)).toEqual(['Before', 'Durable']);
      expect((await streamOnOther).map((e) => e.type)).toEqual(['Durable']);
      expect(await head).toBe(2);
      await reading;
      expect(seen).toEqual(['Durable']);
    } finally {
      disk.release();
      disk.restore();
      await sub.close();
      await other.close();
      await store.close();
    }
  });

  it('close answers the groups still waiting for their sync before the file closes', async () => {
    const store = fresh();
    const file = (store as unknown as { file: string }).file;
    const disk = pauseSyncs();
    let answered = false;
    const appending = store.append('c-1', [newEvent('Last')], 'no_stream').then(() => (answered = true));
    while (disk.held.length === 0) await tick(5);
    const closing = store.close();
    await tick();
    expect(answered).toBe(false);
    disk.release();
    disk.restore();
    await closing;
    expect(answered).toBe(true);
    await appending;
    const reopened = new SqliteEventStore(file);
    expect((await reopened.readStream('c-1')).map((e) => e.type)).toEqual(['Last']);
    await reopened.close();
  });

  it('while the disk is idle, a queue\'s first quarter is synced and answered first; the rest commits meanwhile and is synced next', async () => {
    const store = fresh();
    const disk = pauseSyncs();
    try {
      const answered: number[] = [];
      // Issued in one turn of the event loop, with no sync in flight: one queue of eight.
      const appends = Array.from({ length: 8 }, (_, i) =>
        store.append(`q-${i}`, [newEvent('A')], 'no_stream').then((r) => {
          answered.push(i);
          return r;
        }),
      );
      while (disk.held.length === 0) await tick(5);
      await tick();
      // The first two are committed and syncing; the other six committed after that sync began.
      expect(disk.held).toHaveLength(1);
      disk.pass();
      while (answered.length < 2) await tick(5);
      await tick();
      expect(answered).toEqual([0, 1]);
      expect(disk.held).toHaveLength(1);
      disk.release();
      expect((await Promise.all(appends)).map((r) => r.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(answered).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    } finally {
      disk.release();
      disk.restore();
    }
    await store.close();
  });

  it('one sync answers every group committed before it began; a failed sync fails its groups and every later append', async () => {
    const store = fresh();
    const disk = pauseSyncs();
    try {
      const first = store.append('f-1', [newEvent('A')], 'no_stream');
      while (disk.held.length === 0) await tick(5);
      // Two more groups commit while the first sync is held: one further sync covers both.
      const second = store.append('f-2', [newEvent('B')], 'no_stream');
      await tick();
      const third = store.append('f-3', [newEvent('C')], 'no_stream');
      await tick();
      expect(disk.held).toHaveLength(1);
      disk.release();
      await Promise.all([first, second, third]);
    } finally {
      disk.release();
      disk.restore();
    }
    const fs = require('node:fs') as typeof import('node:fs');
    const failing = jest.spyOn(fs, 'fdatasync').mockImplementation(((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      setImmediate(() => cb(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })));
    }) as typeof fs.fdatasync);
    try {
      await expect(store.append('f-4', [newEvent('D')], 'no_stream')).rejects.toThrow(/could not be synced to disk \(EIO/);
      await expect(store.append('f-5', [newEvent('E')], 'no_stream')).rejects.toThrow(/could not be synced/);
    } finally {
      failing.mockRestore();
    }
    await expect(store.append('f-6', [newEvent('F')], 'no_stream')).rejects.toThrow(/until a restart/);
    await store.close();
  });
});

describe('sqlite event store: an append to several streams when the disk fills part-way', () => {
  /** Caps the file a few pages above its size now, on the store's own connection: its next large write fails with SQLITE_FULL. */
  function capFile(store: SqliteEventStore, spare: number): void {
    const db = (store as unknown as { db: { pragma(sql: string, options?: { simple: boolean }): unknown } }).db;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + spare}`);
  }
  const big = (i: number) => newEvent('Registered', { i, padding: 'x'.repeat(2000) });

  it.each([true, false])('nothing of any stream is written, and the store goes on (group commit: %s)', async (groupCommit) => {
    const store = fresh({ groupCommit });
    await store.append('before', [newEvent('A')], 'no_stream');
    const head = await store.headPosition();
    capFile(store, 4);
    const parts = Array.from({ length: 40 }, (_, i) => ({ stream: `full-${i}`, events: [big(i)], expected: 'no_stream' as const }));
    // In the same group: a plain append queued beside it shares its transaction, and its fate.
    const [all, beside] = await Promise.allSettled([store.appendAll(parts), store.append('beside', [newEvent('B')], 'no_stream')]);
    expect(all.status).toBe('rejected');
    expect((all as PromiseRejectedResult).reason).toBeInstanceOf(EventStoreFullError);
    for (const i of [0, 1, 2, 39]) await expect(store.readStream(`full-${i}`)).rejects.toBeInstanceOf(StreamNotFoundError);
    const after = await store.readAll({ from: head });
    expect(after.filter((e) => e.stream.startsWith('full-'))).toEqual([]);
    if (beside.status === 'fulfilled') expect(after.map((e) => e.stream)).toEqual(['beside']);
    // The first parts fit: without the cap, the same parts go in whole.
    capFile(store, 10_000);
    const results = await store.appendAll(parts);
    expect(results).toHaveLength(40);
    expect((await store.readStream('full-39')).map((e) => e.data.i)).toEqual([39]);
    await store.close();
  });
});
