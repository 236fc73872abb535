import { randomUUID } from 'node:crypto';
import { ConcurrentCommitError, ReadStore } from '../../src/read-store/read-store.port';
import { pagesOf } from '../../src/read-store/scan';

/** The read store port's contract, in MongoDB's semantics. Collections are unique per test. */
export function readStoreContract(adapter: string, open: () => Promise<ReadStore>): void {
  describe(`read store contract: ${adapter}`, () => {
    let store: ReadStore;
    let c: string;
    beforeEach(async () => {
      store = await open();
      c = `t${randomUUID().replace(/-/g, '').slice(0, 10)}`;
    });
    afterEach(async () => {
      await store.dropCollection(c);
      await store.close();
    });

    const seed = () =>
      store.commit([
        { op: 'insertOne', collection: c, doc: { _id: 'm1', phase: 'READY', cores: 8, labels: { rack: 'r1' }, tags: ['a'] } },
        { op: 'insertOne', collection: c, doc: { _id: 'm2', phase: 'MAINTENANCE', cores: 16, labels: { rack: 'r2' }, tags: [] } },
        { op: 'insertOne', collection: c, doc: { _id: 'm3', phase: 'READY', cores: 32, labels: { rack: 'r1' }, tags: ['a', 'b'] } },
      ]);

    it('finds one document by _id and by a field', async () => {
      await seed();
      expect(await store.findOne(c, { _id: 'm2' })).toMatchObject({ phase: 'MAINTENANCE' });
      expect(await store.findOne(c, { 'labels.rack': 'r2' })).toMatchObject({ _id: 'm2' });
      expect(await store.findOne(c, { _id: 'nope' })).toBeNull();
    });

    it('finds many with query operators, sort, skip and limit', async () => {
      await seed();
      const ids = (docs: Array<{ _id: string }>) => docs.map((d) => d._id);
      expect(ids(await store.find(c, { phase: 'READY' }, { sort: { cores: -1 } }))).toEqual(['m3', 'm1']);
      expect(ids(await store.find(c, { cores: { $gte: 16 } }, { sort: { _id: 1 } }))).toEqual(['m2', 'm3']);
      expect(ids(await store.find(c, { tags: 'b' }))).toEqual(['m3']);
      expect(ids(await store.find(c, { $or: [{ _id: 'm1' }, { cores: 16 }] }, { sort: { _id: 1 } }))).toEqual(['m1', 'm2']);
      expect(ids(await store.find(c, {}, { sort: { _id: 1 }, skip: 1, limit: 1 }))).toEqual(['m2']);
      expect(ids(await store.find(c, { _id: { $gt: 'm1' } }, { sort: { _id: 1 }, limit: 5 }))).toEqual(['m2', 'm3']);
      expect(await store.count(c, { phase: 'READY' })).toBe(2);
    });

    it('pages in _id order through a large collection: sparse matches, skip, descending, ranges, and counts', async () => {
      // 3,000 documents; every 7th is READY. Pages must span many of the adapter's internal chunks.
      const docs = Array.from({ length: 3000 }, (_, i) => ({ _id: `d${String(i).padStart(5, '0')}`, phase: i % 7 === 0 ? 'READY' : 'BUSY', n: i }));
      await store.commit(docs.map((doc) => ({ op: 'insertOne' as const, collection: c, doc })));
      const ids = (xs: Array<{ _id: string }>) => xs.map((d) => d._id);
      const ready = docs.filter((d) => d.phase === 'READY').map((d) => d._id);
      expect(ids(await store.find(c, { phase: 'READY' }, { sort: { _id: 1 }, limit: 50 }))).toEqual(ready.slice(0, 50));
      expect(ids(await store.find(c, { phase: 'READY' }, { sort: { _id: 1 }, skip: 100, limit: 50 }))).toEqual(ready.slice(100, 150));
      expect(ids(await store.find(c, { phase: 'READY' }, { sort: { _id: -1 }, limit: 3 }))).toEqual(ready.slice(-3).reverse());
      expect(ids(await store.find(c, { phase: 'READY', _id: { $gt: ready[400] } }, { sort: { _id: 1 }, limit: 50 }))).toEqual(ready.slice(401, 429));
      expect(ids(await store.find(c, { _id: { $gte: 'd02990', $lt: 'd02993' } }, { sort: { _id: 1 }, limit: 10 }))).toEqual(['d02990', 'd02991', 'd02992']);
      expect(ids(await store.find(c, { n: { $gte: 2995 } }, { limit: 10 })).sort()).toEqual(['d02995', 'd02996', 'd02997', 'd02998', 'd02999']);
      expect((await store.findOne(c, { phase: 'READY', n: { $gt: 2990 } }))?._id).toBe('d02996');
      expect(await store.count(c, {})).toBe(3000);
      expect(await store.count(c, { phase: 'READY' })).toBe(ready.length);
    });

    it('pagesOf walks every matching document once, in _id order, across page boundaries', async () => {
      const docs = Array.from({ length: 2500 }, (_, i) => ({ _id: `s${String(i).padStart(5, '0')}`, odd: i % 2 === 1 }));
      await store.commit(docs.map((doc) => ({ op: 'insertOne' as const, collection: c, doc })));
      const walk = async (filter: Record<string, unknown>, size: number) => {
        const pages: string[][] = [];
        for await (const page of pagesOf(store, c, filter, size)) pages.push(page.map((d) => d._id));
        return pages;
      };
      const all = await walk({}, 1000);
      expect(all.map((p) => p.length)).toEqual([1000, 1000, 500]);
      expect(all.flat()).toEqual(docs.map((d) => d._id));
      const odd = await walk({ odd: true }, 500);
      expect(odd.map((p) => p.length)).toEqual([500, 500, 250]);
      expect(odd.flat()).toEqual(docs.filter((d) => d.odd).map((d) => d._id));
      // A filter with its own _id condition keeps it.
      expect((await walk({ _id: { $lt: 's00010' } }, 4)).flat()).toEqual(docs.slice(0, 10).map((d) => d._id));
      expect(await walk({ _id: 'none' }, 10)).toEqual([]);
    });

    it('pagesOf lets the event loop run between pages: a long scan does not hold up requests', async () => {
      await store.commit(Array.from({ length: 30 }, (_, i) => ({ op: 'insertOne' as const, collection: c, doc: { _id: `p${String(i).padStart(2, '0')}` } })));
      let turned = false;
      setImmediate(() => (turned = true));
      const seenBeforeTurn: number[] = [];
      for await (const page of pagesOf(store, c, {}, 10)) if (!turned) seenBeforeTurn.push(page.length);
      // The macrotask queued before the scan ran while the scan was still going.
      expect(turned).toBe(true);
      expect(seenBeforeTurn.length).toBeLessThan(3);
    });

    it('an equality on a path matches through arrays on the way, as MongoDB does', async () => {
      await store.commit([
        { op: 'insertOne', collection: c, doc: { _id: 'a', tags: ['x', 'y'], slots: [{ vm: 'v1' }, { vm: 'v2' }], flag: true } },
        { op: 'insertOne', collection: c, doc: { _id: 'b', tags: 'x', slots: { vm: 'v1' }, flag: 1 } },
        { op: 'insertOne', collection: c, doc: { _id: 'c', tags: ['z'], slots: [], flag: false } },
      ]);
      const ids = async (filter: Record<string, unknown>) => (await store.find(c, filter, { sort: { _id: 1 }, limit: 10 })).map((d) => d._id);
      expect(await ids({ tags: 'x' })).toEqual(['a', 'b']);
      expect(await ids({ 'slots.vm': 'v2' })).toEqual(['a']);
      expect(await ids({ 'slots.vm': { $in: ['v1'] } })).toEqual(['a', 'b']);
      expect(await ids({ flag: true })).toEqual(['a']);
      expect(await store.count(c, { 'slots.vm': 'v1' })).toBe(2);
    });

    it('updates one with update operators', async () => {
      await seed();
      await store.commit([
        { op: 'updateOne', collection: c, filter: { _id: 'm1' }, update: { $set: { phase: 'MAINTENANCE', 'labels.rack': 'r9' }, $inc: { cores: 2 }, $push: { tags: 'z' } } },
        { op: 'updateOne', collection: c, filter: { _id: 'm3' }, update: { $unset: { labels: '' }, $pull: { tags: 'a' } } },
        { op: 'updateOne', collection: c, filter: { _id: 'm3' }, update: { $addToSet: { tags: 'b' } } },
      ]);
      expect(await store.findOne(c, { _id: 'm1' })).toEqual({ _id: 'm1', phase: 'MAINTENANCE', cores: 10, labels: { rack: 'r9' }, tags: ['a', 'z'] });
      expect(await store.findOne(c, { _id: 'm3' })).toEqual({ _id: 'm3', phase: 'READY', cores: 32, tags: ['b'] });
    });

    it('the operators the projections use: $max, $push with $each, $pull by condition, $inc below zero, $set into nested objects', async () => {
      await store.commit([
        { op: 'updateOne', collection: c, filter: { _id: 'p1' }, update: { $inc: { vms: 1, cpu: 4 }, $max: { peak: 3 } }, upsert: true },
        { op: 'updateOne', collection: c, filter: { _id: 'p1' }, update: { $inc: { vms: -1, cpu: -4 }, $max: { peak: 2 }, $push: { logs: { $each: [{ s: 'a' }, { s: 'b' }, { s: 'a' }] } } } },
        { op: 'updateOne', collection: c, filter: { _id: 'p1' }, update: { $pull: { logs: { s: 'a' } }, $set: { 'm.inMaintenance': true, 'm.reason': 'bios' } } },
      ]);
      expect(await store.findOne(c, { _id: 'p1' })).toEqual({ _id: 'p1', vms: 0, cpu: 0, peak: 3, logs: [{ s: 'b' }], m: { inMaintenance: true, reason: 'bios' } });
    });

    it('an unknown update operator fails the batch', async () => {
      await seed();
      await expect(store.commit([{ op: 'updateOne', collection: c, filter: { _id: 'm1' }, update: { $frobnicate: { cores: 1 } } }])).rejects.toThrow();
      expect(await store.findOne(c, { _id: 'm1' })).toMatchObject({ cores: 8 });
    });

    it('upserts from the filter and $setOnInsert, and leaves $setOnInsert alone on an update', async () => {
      await store.commit([
        { op: 'updateOne', collection: c, filter: { _id: 'u1' }, update: { $set: { n: 1 }, $setOnInsert: { created: 'first' } }, upsert: true },
      ]);
      await store.commit([
        { op: 'updateOne', collection: c, filter: { _id: 'u1' }, update: { $set: { n: 2 }, $setOnInsert: { created: 'second' } }, upsert: true },
      ]);
      expect(await store.findOne(c, { _id: 'u1' })).toEqual({ _id: 'u1', n: 2, created: 'first' });
    });

    it('an update without upsert on a missing document changes nothing', async () => {
      await store.commit([{ op: 'updateOne', collection: c, filter: { _id: 'ghost' }, update: { $set: { n: 1 } } }]);
      expect(await store.count(c, {})).toBe(0);
    });

    it('updates many, replaces and deletes', async () => {
      await seed();
      await store.commit([
        { op: 'updateMany', collection: c, filter: { phase: 'READY' }, update: { $set: { checked: true } } },
        { op: 'replaceOne', collection: c, filter: { _id: 'm2' }, doc: { _id: 'm2', replaced: true } },
        { op: 'deleteOne', collection: c, filter: { _id: 'm1' } },
      ]);
      expect(await store.find(c, { checked: true })).toHaveLength(1);
      expect(await store.findOne(c, { _id: 'm2' })).toEqual({ _id: 'm2', replaced: true });
      await store.commit([{ op: 'deleteMany', collection: c, filter: {} }]);
      expect(await store.count(c, {})).toBe(0);
    });

    it('later changes in a batch see earlier ones', async () => {
      await store.commit([
        { op: 'updateOne', collection: c, filter: { _id: 'b1' }, update: { $set: { n: 1 } }, upsert: true },
        { op: 'updateOne', collection: c, filter: { _id: 'b1' }, update: { $inc: { n: 1 } } },
        { op: 'updateMany', collection: c, filter: { n: 2 }, update: { $set: { seen: true } } },
      ]);
      expect(await store.findOne(c, { _id: 'b1' })).toEqual({ _id: 'b1', n: 2, seen: true });
    });

    it('within a batch, a lookup on an indexed field sees the values earlier changes gave or took away', async () => {
      await store.ensureIndexes(c, [{ field: 'openFor' }]);
      await store.commit([{ op: 'insertOne', collection: c, doc: { _id: 'stored', openFor: 'x', n: 0 } }]);
      await store.commit([
        // A stored document loses the value, a new one gains it, and a third gains then loses it.
        { op: 'updateOne', collection: c, filter: { openFor: 'x' }, update: { $unset: { openFor: '' } } },
        { op: 'updateOne', collection: c, filter: { openFor: 'x', n: 1 }, update: { $setOnInsert: { _id: 'fresh' } }, upsert: true },
        { op: 'insertOne', collection: c, doc: { _id: 'brief', openFor: 'y' } },
        { op: 'updateOne', collection: c, filter: { openFor: 'y' }, update: { $set: { openFor: 'z' } } },
        { op: 'updateMany', collection: c, filter: { openFor: 'x' }, update: { $inc: { n: 10 } } },
        { op: 'updateMany', collection: c, filter: { openFor: 'y' }, update: { $set: { wrong: true } } },
        { op: 'updateOne', collection: c, filter: { openFor: { $in: ['z'] } }, update: { $set: { right: true } } },
      ]);
      expect(await store.find(c, {}, { sort: { _id: 1 } })).toEqual([
        { _id: 'brief', openFor: 'z', right: true },
        { _id: 'fresh', openFor: 'x', n: 11 },
        { _id: 'stored', n: 0 },
      ]);
    });

    it('a batch that fails commits nothing', async () => {
      await seed();
      await expect(
        store.commit([
          { op: 'updateOne', collection: c, filter: { _id: 'm1' }, update: { $set: { phase: 'CHANGED' } } },
          { op: 'insertOne', collection: c, doc: { _id: 'm2' } },
        ]),
      ).rejects.toThrow();
      expect(await store.findOne(c, { _id: 'm1' })).toMatchObject({ phase: 'READY' });
    });

    it('a batch commits together with a checkpoint document in another collection', async () => {
      const cp = `${c}_cp`;
      await store.commit([
        { op: 'insertOne', collection: c, doc: { _id: 'x' } },
        { op: 'updateOne', collection: cp, filter: { _id: 'proj' }, update: { $set: { checkpoint: 42 } }, upsert: true },
      ]);
      expect(await store.findOne(cp, { _id: 'proj' })).toEqual({ _id: 'proj', checkpoint: 42 });
      await store.dropCollection(cp);
    });

    it('declared indexes answer equality queries on indexed fields', async () => {
      await store.ensureIndexes(c, [{ field: 'phase' }, { field: 'labels.rack' }]);
      await seed();
      expect((await store.find(c, { phase: 'READY' }, { sort: { _id: 1 } })).map((d) => d._id)).toEqual(['m1', 'm3']);
      expect((await store.find(c, { 'labels.rack': 'r2' })).map((d) => d._id)).toEqual(['m2']);
      expect((await store.find(c, { phase: { $in: ['MAINTENANCE'] } })).map((d) => d._id)).toEqual(['m2']);
    });

    it('a mustMatch change that matches nothing fails the whole batch (compare-and-set)', async () => {
      await store.commit([{ op: 'insertOne', collection: c, doc: { _id: 'cp', checkpoint: 5 } }]);
      await expect(
        store.commit([
          { op: 'insertOne', collection: c, doc: { _id: 'side-effect' } },
          { op: 'updateOne', collection: c, filter: { _id: 'cp', checkpoint: 4 }, update: { $set: { checkpoint: 9 } }, mustMatch: true },
        ]),
      ).rejects.toBeInstanceOf(ConcurrentCommitError);
      expect(await store.findOne(c, { _id: 'side-effect' })).toBeNull();
      await store.commit([{ op: 'updateOne', collection: c, filter: { _id: 'cp', checkpoint: 5 }, update: { $set: { checkpoint: 9 } }, mustMatch: true }]);
      expect(await store.findOne(c, { _id: 'cp' })).toEqual({ _id: 'cp', checkpoint: 9 });
    });

    it('an answer repeated after a commit shows the commit, and a caller cannot change what later callers read', async () => {
      await seed();
      const page = () => store.find(c, { phase: 'READY' }, { sort: { _id: 1 }, limit: 10 });
      expect((await page()).map((d) => d._id)).toEqual(['m1', 'm3']);
      expect(await store.count(c, { phase: 'READY' })).toBe(2);
      await store.commit([{ op: 'updateOne', collection: c, filter: { _id: 'm2' }, update: { $set: { phase: 'READY' } } }]);
      expect((await page()).map((d) => d._id)).toEqual(['m1', 'm2', 'm3']);
      expect(await store.count(c, { phase: 'READY' })).toBe(3);
      expect(await store.count(c, {})).toBe(3);
      const [first] = await page();
      try {
        (first.labels as Record<string, string>).rack = 'changed by a caller';
      } catch {
        // A frozen (shared) document refuses the change: that is fine too.
      }
      expect((await page())[0].labels).toEqual({ rack: 'r1' });
      // Two queries that differ only in a value JSON would blur are told apart.
      expect(await store.count(c, { _id: { $regex: /^m[12]$/ } })).toBe(2);
      expect(await store.count(c, { _id: { $regex: /^m1$/ } })).toBe(1);
      await store.dropCollection(c);
      expect(await page()).toEqual([]);
    });

    it('a change by key and other fields matches as a query would: plain values, null for missing, arrays, operators, paths, and the batch\'s own writes', async () => {
      await store.commit([{ op: 'insertOne', collection: c, doc: { _id: 'k', n: 1, s: 'a', flag: true, tags: ['x', 'y'], nested: { v: 2 }, gone: null } }]);
      const hits = async (filter: Record<string, unknown>) => {
        try {
          await store.commit([{ op: 'expect', collection: c, filter: { _id: 'k', ...filter } }]);
          return true;
        } catch (err) {
          if ((err as Error).name !== 'ConcurrentCommitError') throw err;
          return false;
        }
      };
      expect(await hits({ n: 1, s: 'a', flag: true })).toBe(true);
      expect(await hits({ n: 2 })).toBe(false);
      expect(await hits({ n: '1' })).toBe(false);
      expect(await hits({ flag: 1 })).toBe(false);
      expect(await hits({ missing: null })).toBe(true);
      expect(await hits({ gone: null })).toBe(true);
      expect(await hits({ s: null })).toBe(false);
      expect(await hits({ tags: 'y' })).toBe(true);
      expect(await hits({ tags: 'z' })).toBe(false);
      expect(await hits({ n: { $gte: 1 } })).toBe(true);
      expect(await hits({ n: { $gt: 1 } })).toBe(false);
      expect(await hits({ 'nested.v': 2 })).toBe(true);
      expect(await hits({ 'nested.v': 3 })).toBe(false);
      expect(await hits({ nested: { v: 2 } })).toBe(true);
      // In one batch, a compare-and-set sees the batch's earlier change of the same document.
      await store.commit([
        { op: 'updateOne', collection: c, filter: { _id: 'k', n: 1 }, update: { $set: { n: 2 } }, mustMatch: true },
        { op: 'updateOne', collection: c, filter: { _id: 'k', n: 2 }, update: { $set: { n: 3 } }, mustMatch: true },
      ]);
      expect(await store.findOne(c, { _id: 'k' })).toMatchObject({ n: 3 });
      await expect(
        store.commit([
          { op: 'updateOne', collection: c, filter: { _id: 'k', n: 3 }, update: { $set: { n: 4 } }, mustMatch: true },
          { op: 'updateOne', collection: c, filter: { _id: 'k', n: 3 }, update: { $set: { n: 5 } }, mustMatch: true },
        ]),
      ).rejects.toBeInstanceOf(ConcurrentCommitError);
      expect(await store.findOne(c, { _id: 'k' })).toMatchObject({ n: 3 });
    });

    it('an expect change (a fence) fails the whole batch unless its document matches, and changes nothing readers see', async () => {
      await store.commit([{ op: 'insertOne', collection: c, doc: { _id: 'lease', token: 2 } }]);
      await expect(
        store.commit([
          { op: 'expect', collection: c, filter: { _id: 'lease', token: 1 } },
          { op: 'insertOne', collection: c, doc: { _id: 'late' } },
        ]),
      ).rejects.toMatchObject({ name: 'ConcurrentCommitError', collection: c });
      expect(await store.findOne(c, { _id: 'late' })).toBeNull();
      await store.commit([
        { op: 'expect', collection: c, filter: { _id: 'lease', token: 2 } },
        { op: 'insertOne', collection: c, doc: { _id: 'on-time' } },
      ]);
      expect(await store.findOne(c, { _id: 'on-time' })).toEqual({ _id: 'on-time' });
      expect(await store.findOne(c, { _id: 'lease', token: 2 })).toMatchObject({ _id: 'lease', token: 2 });
    });

    it('lists and drops collections', async () => {
      await seed();
      expect(await store.listCollections()).toContain(c);
      await store.dropCollection(c);
      expect(await store.listCollections()).not.toContain(c);
      expect(await store.count(c, {})).toBe(0);
    });
  });
}
