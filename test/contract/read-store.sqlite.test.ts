import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { ConcurrentCommitError } from '../../src/read-store/read-store.port';
import { DuplicateKeyError, INLINE_CHANGES, SqliteReadStore, SqliteReadStoreOptions } from '../../src/read-store/sqlite/sqlite-read-store';
import { tempDir } from '../support/temp';
import { readStoreContract } from './read-store.contract';

const dir = tempDir();
afterAll(() => dir.cleanup());

readStoreContract('sqlite', async () => new SqliteReadStore(join(dir.path, 'read.db')));

// The app's mode: writes on the writer thread. A thread runs JavaScript, so it runs the compiled
// script (`npm test` builds first).
const WRITER_SCRIPT = join(__dirname, '../../dist/src/read-store/sqlite/writer-thread.js');
const threaded = (file: string, options: SqliteReadStoreOptions = {}) =>
  new SqliteReadStore(join(dir.path, file), { writerThread: true, writerScript: WRITER_SCRIPT, ...options });
readStoreContract('sqlite, writes on the writer thread', async () => threaded('read-threaded.db'));
// Every write through the thread, none applied on the caller's connection.
const threadOnly = (file: string) => threaded(file, { inlineChanges: 0 });
readStoreContract('sqlite, every write on the writer thread', async () => threadOnly('read-thread-only.db'));

describe('sqlite read store, writes on the writer thread', () => {
  it('commits sent together apply in the order sent, each in its own transaction', async () => {
    const store = threadOnly('order.db');
    await store.commit([{ op: 'insertOne', collection: 'seq', doc: { _id: 'n', v: 0 } }]);
    // Each is a compare-and-set on the value the one before it leaves: any reordering fails one.
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        store.commit([{ op: 'updateOne', collection: 'seq', filter: { _id: 'n', v: i }, update: { $set: { v: i + 1 } }, mustMatch: true }]),
      ),
    );
    expect(await store.findOne('seq', { _id: 'n' })).toEqual({ _id: 'n', v: 100 });
    await store.close();
  });

  it('refusals come back typed, with what they name, and the batch left nothing behind', async () => {
    const store = threaded('refusals.db');
    await store.commit([{ op: 'insertOne', collection: 'm', doc: { _id: 'a' } }]);
    const dup = await store.commit([{ op: 'insertOne', collection: 'm', doc: { _id: 'b' } }, { op: 'insertOne', collection: 'm', doc: { _id: 'a' } }]).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(DuplicateKeyError);
    expect(dup).toMatchObject({ collection: 'm', id: 'a' });
    const cas = await store.commit([{ op: 'updateOne', collection: 'm', filter: { _id: 'a', v: 1 }, update: { $set: { v: 2 } }, mustMatch: true }]).catch((e: unknown) => e);
    expect(cas).toBeInstanceOf(ConcurrentCommitError);
    expect(cas).toMatchObject({ collection: 'm', filter: { _id: 'a', v: 1 } });
    const unknown = await store.commit([{ op: 'updateOne', collection: 'm', filter: { _id: 'a' }, update: { $frobnicate: { v: 1 } } }]).catch((e: unknown) => e);
    expect((unknown as Error).message).toMatch(/\$frobnicate/);
    expect((await store.find('m', {})).map((d) => d._id)).toEqual(['a']);
    await store.close();
  });

  it('indexes and drops made through the thread are seen by the reading connection', async () => {
    const store = threaded('ddl.db');
    await store.ensureIndexes('m', [{ field: 'phase' }]);
    await store.commit([{ op: 'insertOne', collection: 'm', doc: { _id: 'a', phase: 'READY' } }]);
    expect((store as SqliteReadStore).explain('m', { phase: 'READY' })).toMatch(/USING INDEX ix_m_phase/);
    await store.dropCollection('m');
    expect(await store.find('m', {})).toEqual([]);
    await store.commit([{ op: 'insertOne', collection: 'm', doc: { _id: 'b' } }]);
    expect((await store.find('m', {})).map((d) => d._id)).toEqual(['b']);
    await store.close();
  });

  it('reads of a collection never written find nothing and create nothing: tables are the writer\'s to make', async () => {
    const store = threaded('no-table.db');
    expect(await store.find('ghost', { phase: 'READY' })).toEqual([]);
    expect(await store.find('ghost', {}, { sort: { _id: 1 }, limit: 5 })).toEqual([]);
    expect(await store.findOne('ghost', { _id: 'x' })).toBeNull();
    expect(await store.count('ghost', {})).toBe(0);
    expect(await store.count('ghost', { phase: 'READY' })).toBe(0);
    expect(await store.listCollections()).not.toContain('ghost');
    await store.commit([{ op: 'insertOne', collection: 'ghost', doc: { _id: 'x', phase: 'READY' } }]);
    expect(await store.findOne('ghost', { _id: 'x' })).toEqual({ _id: 'x', phase: 'READY' });
    expect(await store.count('ghost', {})).toBe(1);
    expect(await store.listCollections()).toContain('ghost');
    await store.close();
  });

  it('a ping is answered by the reading connection and by the writer thread', async () => {
    const store = threaded('ping.db');
    await expect(store.ping()).resolves.toBeUndefined();
    await store.close();
  });

  it('a writer thread that dies is started again: the write in flight is answered, later writes apply', async () => {
    const store = threadOnly('respawn.db');
    await store.commit([{ op: 'insertOne', collection: 'm', doc: { _id: 'a' } }]);
    const inFlight = store.commit([{ op: 'insertOne', collection: 'm', doc: { _id: 'b' } }]).then(
      () => 'applied',
      (err: Error) => err.message,
    );
    // A crash of the thread, as far as the store can tell.
    await (store as unknown as { writer: { worker: Worker } }).writer.worker.terminate();
    expect(await inFlight).toMatch(/^applied$|stopped before confirming the write/);
    await store.commit([{ op: 'insertOne', collection: 'm', doc: { _id: 'c' } }]);
    const ids = (await store.find('m', {})).map((d) => d._id);
    expect(ids).toEqual(expect.arrayContaining(['a', 'c']));
    await store.close();
  });

  it('a writer thread that cannot start fails the write with its reason, instead of hanging', async () => {
    const store = new SqliteReadStore(join(dir.path, 'nothread.db'), { writerThread: true, writerScript: join(dir.path, 'missing.js') });
    await expect(store.commit([{ op: 'insertOne', collection: 'm', doc: { _id: 'a' } }])).rejects.toThrow(/missing\.js|Cannot find module/);
    // Readiness asks the same thread: a store that cannot write is not ready.
    await expect(store.ping()).rejects.toThrow(/missing\.js|Cannot find module/);
    await store.close();
  });
});

describe('sqlite read store, small commits while the writer thread is idle', () => {
  const small = (v: number) => [{ op: 'updateOne' as const, collection: 'm', filter: { _id: 'a' }, update: { $set: { v } } }];
  /** Document `a`, then 2,000 one-change commits to it, each awaited: every one goes inline. */
  const twoThousandSmallCommits = async (store: SqliteReadStore) => {
    await store.commit([{ op: 'insertOne', collection: 'm', doc: { _id: 'a', v: 0 } }]);
    for (let v = 1; v <= 2000; v++) await store.commit(small(v));
  };
  const stored = (db: Database.Database) => JSON.parse((db.prepare('SELECT doc FROM rm_m WHERE id = ?').get('a') as { doc: string }).doc) as unknown;

  it('are applied at once, on the caller\'s connection, without a hand-over to the thread', async () => {
    const store = threaded('inline.db');
    await store.commit([{ op: 'insertOne', collection: 'm', doc: { _id: 'a', v: 0 } }]);
    const other = new Database(join(dir.path, 'inline.db'), { readonly: true });
    const written = store.commit(small(1));
    // Read before the caller's next turn: a commit handed to the thread would not be in the file yet.
    expect(stored(other)).toEqual({ _id: 'a', v: 1 });
    await written;
    other.close();
    await store.close();
  });

  it('never overtake a larger commit sent to the thread before them', async () => {
    const store = threaded('inline-order.db');
    await store.ping();
    const large = Array.from({ length: INLINE_CHANGES + 1 }, (_, i) => ({ op: 'insertOne' as const, collection: 'm', doc: { _id: i ? `d${i}` : 'a', v: 0 } }));
    // A compare-and-set on what the large one inserts: had it gone first, it would be refused.
    const cas = [{ op: 'updateOne' as const, collection: 'm', filter: { _id: 'a', v: 0 }, update: { $set: { v: 1 } }, mustMatch: true }];
    await Promise.all([store.commit(large), store.commit(cas)]);
    expect(await store.findOne('m', { _id: 'a' })).toEqual({ _id: 'a', v: 1 });
    await store.close();
  });

  it('leave the checkpoints to the thread, which keeps the WAL from growing without end', async () => {
    const store = threaded('inline-wal.db');
    await twoThousandSmallCommits(store);
    // About 4 KiB of WAL a commit here: 8 MB if nothing ever checkpointed it.
    expect(statSync(join(dir.path, 'inline-wal.db-wal')).size).toBeLessThan(4 * 1024 * 1024);
    expect(await store.findOne('m', { _id: 'a' })).toEqual({ _id: 'a', v: 2000 });
    await store.close();
  });

  it('are never checkpointed by the caller\'s connection, whose checkpoints would sync on the event loop', async () => {
    // The thread is never asked either, so nothing checkpoints: SQLite's automatic checkpoint on
    // the caller's connection would have started the WAL over at 1,000 pages (4 MB).
    const store = threaded('inline-no-checkpoint.db', { inlineCommitsPerCheckpoint: 0 });
    await twoThousandSmallCommits(store);
    expect(statSync(join(dir.path, 'inline-no-checkpoint.db-wal')).size).toBeGreaterThan(6 * 1024 * 1024);
    await store.close();
  });

  it('wait on the thread, not on the event loop, while another process holds the write lock, and are not lost', async () => {
    const store = threaded('inline-locked.db');
    await store.commit([{ op: 'insertOne', collection: 'm', doc: { _id: 'a', v: 0 } }]);
    const other = new Database(join(dir.path, 'inline-locked.db'));
    other.exec('BEGIN IMMEDIATE');
    const asked = Date.now();
    const written = store.commit(small(1));
    const turnedAfter = await new Promise<number>((resolve) => setTimeout(() => resolve(Date.now() - asked), 20));
    expect(turnedAfter).toBeLessThan(1000);
    expect(stored(other)).toEqual({ _id: 'a', v: 0 });
    other.exec('COMMIT');
    await written;
    expect(stored(other)).toEqual({ _id: 'a', v: 1 });
    other.close();
    await store.close();
  });
});

describe('sqlite read store, two connections on one file', () => {
  it('a repeated query sees another connection\'s commit at once', async () => {
    const file = join(dir.path, 'shared.db');
    const a = new SqliteReadStore(file);
    const b = new SqliteReadStore(file);
    await a.commit([{ op: 'insertOne', collection: 'machines', doc: { _id: 'm1', phase: 'READY' } }]);
    expect(await a.findOne('machines', { _id: 'm1' })).toEqual({ _id: 'm1', phase: 'READY' });
    expect(await a.count('machines', {})).toBe(1);
    await b.commit([
      { op: 'updateOne', collection: 'machines', filter: { _id: 'm1' }, update: { $set: { phase: 'MAINTENANCE' } } },
      { op: 'insertOne', collection: 'machines', doc: { _id: 'm2', phase: 'READY' } },
    ]);
    expect(await a.findOne('machines', { _id: 'm1' })).toEqual({ _id: 'm1', phase: 'MAINTENANCE' });
    expect(await a.count('machines', {})).toBe(2);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('sqlite read store indexes', () => {
  it('a query by _id or by an indexed field uses an index, not a scan', async () => {
    const store = new SqliteReadStore(join(dir.path, 'plan.db'));
    await store.ensureIndexes('machines', [{ field: 'phase' }]);
    expect(store.explain('machines', { _id: 'm1' })).toMatch(/SEARCH .* USING PRIMARY KEY/);
    expect(store.explain('machines', { phase: 'READY' })).toMatch(/SEARCH .* USING INDEX ix_machines_phase/);
    expect(store.explain('machines', { cores: 8 })).toMatch(/SCAN/);
    // The parts of an $and are used too: the next page of a scan is a key range, not a scan.
    expect(store.explain('machines', { $and: [{ cores: 8 }, { _id: { $gt: 'm1' } }] })).toMatch(/SEARCH .* USING PRIMARY KEY/);
    await store.close();
  });

  it('a unique index refuses a second document with the same value, and keeps the first', async () => {
    const store = new SqliteReadStore(join(dir.path, 'unique.db'));
    await store.ensureIndexes('keys', [{ field: 'hash', unique: true }]);
    await store.commit([{ op: 'insertOne', collection: 'keys', doc: { _id: 'k1', hash: 'h1' } }]);
    // (By its code: the driver's error class belongs to the first test file that loaded it.)
    await expect(store.commit([{ op: 'insertOne', collection: 'keys', doc: { _id: 'k2', hash: 'h1' } }])).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
    await expect(
      store.commit([{ op: 'updateOne', collection: 'keys', filter: { _id: 'k3' }, update: { $set: { hash: 'h1' } }, upsert: true }]),
    ).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
    expect(await store.find('keys', {})).toEqual([{ _id: 'k1', hash: 'h1' }]);
    // The same document written again is an update of it, not a conflict.
    await store.commit([{ op: 'replaceOne', collection: 'keys', filter: { _id: 'k1' }, doc: { _id: 'k1', hash: 'h1', note: 'x' } }]);
    expect(await store.find('keys', {})).toEqual([{ _id: 'k1', hash: 'h1', note: 'x' }]);
    await store.close();
  });

  it('an indexed value that moves is found under its new value only; writes that leave it keep it found', async () => {
    const store = new SqliteReadStore(join(dir.path, 'moves.db'));
    await store.ensureIndexes('machines', [{ field: 'phase' }, { field: 'maintenance.on' }]);
    await store.commit(['m1', 'm2', 'm3'].map((id) => ({ op: 'insertOne' as const, collection: 'machines', doc: { _id: id, phase: 'READY', maintenance: { on: false }, n: 0 } })));
    const ids = async (filter: Record<string, unknown>) => (await store.find('machines', filter)).map((d) => d._id).sort();
    // Unindexed fields change (the document alone is rewritten), then an indexed one, in one batch and across batches.
    await store.commit([
      { op: 'updateOne', collection: 'machines', filter: { _id: 'm1' }, update: { $set: { n: 1 } } },
      { op: 'updateOne', collection: 'machines', filter: { _id: 'm2' }, update: { $set: { n: 1 } } },
      { op: 'updateOne', collection: 'machines', filter: { _id: 'm2' }, update: { $set: { phase: 'ALLOCATED' } } },
    ]);
    await store.commit([{ op: 'updateOne', collection: 'machines', filter: { _id: 'm3' }, update: { $set: { 'maintenance.on': true, n: 2 } } }]);
    await store.commit([{ op: 'replaceOne', collection: 'machines', filter: { _id: 'm1' }, doc: { _id: 'm1', phase: 'BROKEN', maintenance: { on: true }, n: 3 } }]);
    expect(await ids({ phase: 'READY' })).toEqual(['m3']);
    expect(await ids({ phase: 'ALLOCATED' })).toEqual(['m2']);
    expect(await ids({ phase: { $in: ['BROKEN', 'ALLOCATED'] } })).toEqual(['m1', 'm2']);
    expect(await ids({ 'maintenance.on': true })).toEqual(['m1', 'm3']);
    expect(await ids({ 'maintenance.on': false })).toEqual(['m2']);
    expect((await store.findOne('machines', { _id: 'm2' }))?.n).toBe(1);
    // An indexed lookup inside a batch sees the batch's own moves.
    await store.commit([
      { op: 'updateOne', collection: 'machines', filter: { _id: 'm3' }, update: { $set: { phase: 'ALLOCATED' } } },
      { op: 'updateMany', collection: 'machines', filter: { phase: 'ALLOCATED' }, update: { $set: { n: 9 } } },
    ]);
    expect((await store.find('machines', { n: 9 })).map((d) => d._id).sort()).toEqual(['m2', 'm3']);
    expect(store.explain('machines', { 'maintenance.on': true })).toMatch(/USING INDEX ix_machines_maintenance__on/);
    await store.close();
  });

  it('a writer fills a key column another connection added after it opened', async () => {
    const file = join(dir.path, 'late-index.db');
    const writer = new SqliteReadStore(file);
    await writer.commit([{ op: 'insertOne', collection: 'machines', doc: { _id: 'm1', phase: 'READY' } }]);
    const other = new SqliteReadStore(file);
    await other.ensureIndexes('machines', [{ field: 'phase' }]);
    await writer.commit([
      { op: 'insertOne', collection: 'machines', doc: { _id: 'm2', phase: 'READY' } },
      { op: 'updateOne', collection: 'machines', filter: { _id: 'm1' }, update: { $set: { phase: 'ALLOCATED' } } },
    ]);
    expect((await other.find('machines', { phase: 'READY' })).map((d) => d._id)).toEqual(['m2']);
    expect((await other.find('machines', { phase: 'ALLOCATED' })).map((d) => d._id)).toEqual(['m1']);
    expect(other.explain('machines', { phase: 'READY' })).toMatch(/USING INDEX ix_machines_phase/);
    await Promise.all([writer.close(), other.close()]);
  });

  it('a file from before key columns has its expression indexes turned into key columns, once, values filled', async () => {
    const file = join(dir.path, 'old-indexes.db');
    const raw = new Database(file);
    raw.exec(`CREATE TABLE "rm_machines" (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
      CREATE INDEX "ix_machines_phase" ON "rm_machines" (json_extract(doc, '$.phase'));
      CREATE INDEX "ix_machines_hypervisor" ON "rm_machines" (json_extract(doc, '$.hypervisor'));
      CREATE UNIQUE INDEX "ix_keys_hash" ON "rm_keys" (json_extract(doc, '$.hash'));`.replace('CREATE UNIQUE', 'CREATE TABLE "rm_keys" (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID; CREATE UNIQUE'));
    const insert = raw.prepare('INSERT INTO "rm_machines" (id, doc) VALUES (?, ?)');
    for (let i = 0; i < 1500; i++) insert.run(`m${String(i).padStart(4, '0')}`, JSON.stringify({ _id: `m${i}`, phase: i % 3 ? 'READY' : 'BROKEN', hypervisor: i % 2 === 0 }));
    raw.prepare('INSERT INTO "rm_keys" (id, doc) VALUES (?, ?)').run('k1', JSON.stringify({ _id: 'k1', hash: 'h1' }));
    raw.close();
    const first = new SqliteReadStore(file);
    const second = new SqliteReadStore(file);
    expect(await first.count('machines', { phase: 'BROKEN' })).toBe(500);
    expect(await second.count('machines', { hypervisor: true, phase: 'READY' })).toBe(500);
    expect(first.explain('machines', { phase: 'READY' })).toMatch(/USING INDEX ix_machines_phase/);
    expect(first.explain('machines', { hypervisor: false })).toMatch(/USING INDEX ix_machines_hypervisor/);
    // A unique index stays unique.
    // (By its code: the driver's error class belongs to the first test file that loaded it.)
    await expect(first.commit([{ op: 'insertOne', collection: 'keys', doc: { _id: 'k2', hash: 'h1' } }])).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
    expect((await first.find('keys', {})).map((d) => d._id)).toEqual(['k1']);
    await Promise.all([first.close(), second.close()]);
    const check = new Database(file, { readonly: true });
    const indexes = check.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix%'").all() as Array<{ sql: string }>;
    check.close();
    expect(indexes.map((i) => i.sql).sort()).toEqual([
      'CREATE INDEX "ix_machines_hypervisor" ON "rm_machines" ("k_hypervisor")',
      'CREATE INDEX "ix_machines_phase" ON "rm_machines" ("k_phase")',
      'CREATE UNIQUE INDEX "ix_keys_hash" ON "rm_keys" ("k_hash")',
    ]);
  });

  it('declared indexes survive a reopen', async () => {
    const file = join(dir.path, 'reopen.db');
    const first = new SqliteReadStore(file);
    await first.ensureIndexes('machines', [{ field: 'phase' }]);
    await first.close();
    const second = new SqliteReadStore(file);
    expect(second.explain('machines', { phase: 'READY' })).toMatch(/USING INDEX/);
    await second.close();
  });
});
