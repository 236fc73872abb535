import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { StoreDamagedError } from '../../src/storage/integrity';
import { newEvent } from '../contract/event-store.contract';
import { damageLeaf, damageMiddle, swapLeaves } from '../support/damage';
import { tempDir } from '../support/temp';

const worker = join(__dirname, '../../dist/test/support/append-worker.js');

describe('embedded event store on a real file', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('moves a file from before the causation column over once: old events are found by their cause, new ones too', async () => {
    const file = join(dir.path, 'old-format.db');
    // The first files' shape: no causation column, an index over the metadata JSON instead.
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    old.exec(`CREATE TABLE events (
      position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, stream TEXT NOT NULL, revision INTEGER NOT NULL,
      type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, recorded_at TEXT NOT NULL, UNIQUE (stream, revision));
      CREATE INDEX events_causation ON events (json_extract(metadata, '$.causationId'));`);
    const meta = (causationId: string | null) => JSON.stringify({ actor: 't', correlationId: 'c', causationId, requestId: null, occurredAt: '', schemaVersion: 1 });
    const insert = old.prepare('INSERT INTO events (id, stream, revision, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    insert.run('root', 'a', 0, 'Root', '{}', meta(null), '2026-01-01T00:00:00Z');
    insert.run('child-1', 'b', 0, 'Child', '{}', meta('root'), '2026-01-01T00:00:01Z');
    insert.run('child-2', 'c', 0, 'Child', '{}', meta('root'), '2026-01-01T00:00:02Z');
    old.close();

    // Two stores open it one after the other: the first moves it over, the second finds it done.
    const first = new SqliteEventStore(file);
    const second = new SqliteEventStore(file);
    expect((await second.readCausedBy('root')).map((e) => e.id)).toEqual(['child-1', 'child-2']);
    const later = { id: 'child-3', type: 'Child', data: {}, metadata: { actor: 't', correlationId: 'c', causationId: 'root', requestId: null, occurredAt: '', schemaVersion: 1 } };
    // The old table numbers on from its counter: the fourth event has position 4.
    expect((await first.append('d', [later], 'no_stream')).position).toBe(4);
    expect((await first.readCausedBy('root')).map((e) => e.id)).toEqual(['child-1', 'child-2', 'child-3']);
    expect(await first.readCausedBy('child-1')).toEqual([]);
    await first.close();
    await second.close();

    const db = new Database(file);
    const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'").all() as Array<{ name: string }>).map((r) => r.name);
    expect(indexes).toContain('events_caused_by');
    expect(indexes).not.toContain('events_causation');
    // The cause comes from the column's index, not from parsing every event's metadata.
    const plan = (db.prepare('EXPLAIN QUERY PLAN SELECT * FROM events WHERE causation_id = ? ORDER BY position').all('root') as Array<{ detail: string }>).map((r) => r.detail).join('; ');
    expect(plan).toMatch(/events_caused_by/);
    db.close();
  });

  it('a damaged file is said so in the port\'s terms: a corruption error, or rows read out of log order, is a StoreDamagedError, and ping fails from then on', async () => {
    const seed = async (file: string) => {
      const store = new SqliteEventStore(file);
      await Promise.all(Array.from({ length: 1000 }, (_, m) => store.append(`s-${m}`, Array.from({ length: 8 }, (_, i) => newEvent('Seeded', { i, pad: 'p'.repeat(100) })), 'no_stream')));
      await store.close();
    };
    /** Every event, a page at a time, as the whole-log verification reads them (bounded: a loop is a failure too). */
    const readAll = async (store: SqliteEventStore) => {
      let from: number | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const page = await store.readAll({ from, maxCount: 1000 });
        if (page.length < 1000) return;
        from = page[page.length - 1].position;
      }
      throw new Error('the reading went round in circles');
    };
    for (const [name, damage, detail] of [
      ['leaf', damageLeaf, /database disk image is malformed/],
      // Whole pages in the wrong places: SQLite hands their rows out of order, and a reading by
      // position would page round the same rows for ever.
      ['swapped', swapLeaves, /^a read of the log in position order found position \d+ after \d+: the table of events is damaged$/],
      // Garbled cell pointers: either of the two, whichever the layout gives.
      ['middle', damageMiddle, /database disk image is malformed|a read of the log in position order found/],
    ] as const) {
      const file = join(dir.path, `damaged-${name}.db`);
      await seed(file);
      damage(file);
      const store = new SqliteEventStore(file);
      try {
        await store.ping();
        const err = await readAll(store).then(() => null, (e: unknown) => e);
        expect(err).toBeInstanceOf(StoreDamagedError);
        expect(err).toMatchObject({ reason: 'EVENT_STORE_DAMAGED', store: `sqlite event store (${file})`, detail: expect.stringMatching(detail) });
        await expect(store.ping()).rejects.toBe(err);
      } finally {
        await store.close();
      }
    }
  });

  it('keeps the log in WAL mode', async () => {
    const file = join(dir.path, 'pragmas.db');
    const store = new SqliteEventStore(file);
    await store.close();
    const db = new Database(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('numbers a new file\'s events by rowid, with no counter table to rewrite at every commit', async () => {
    const file = join(dir.path, 'rowid.db');
    const store = new SqliteEventStore(file);
    const positions: number[] = [];
    for (const stream of ['a', 'b', 'a']) {
      const e = { id: `${stream}-${positions.length}`, type: 'T', data: {}, metadata: { actor: 't', correlationId: 'c', causationId: null, requestId: null, occurredAt: '', schemaVersion: 1 } };
      positions.push((await store.append(stream, [e], 'any')).position);
    }
    await store.close();
    expect(positions).toEqual([1, 2, 3]);
    const db = new Database(file);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'").all()).toEqual([]);
    db.close();
  });

  it('a process killed (SIGKILL) during appends loses no acknowledged event and leaves no partial batch', async () => {
    const file = join(dir.path, 'killed.db');
    const child = spawn(process.execPath, [worker, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked: string[] = [];
    await new Promise<void>((resolve) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (!line.startsWith('ack ')) return;
        acked.push(line.slice(4));
        if (acked.length === 400) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    expect(child.signalCode).toBe('SIGKILL');
    expect(acked.length).toBeGreaterThanOrEqual(400);

    const db = new Database(file, { readonly: true });
    const counts = new Map(
      (db.prepare('SELECT stream, count(*) AS n FROM events GROUP BY stream').all() as Array<{ stream: string; n: number }>).map(
        (r) => [r.stream, r.n],
      ),
    );
    db.close();
    for (const stream of acked) expect(counts.get(stream)).toBe(3);
    for (const [, n] of counts) expect(n).toBe(3);

    // The file is healthy for the next process: it reopens and appends.
    const reopened = new SqliteEventStore(file);
    await expect(reopened.append('after-restart', [{ id: 'x-1', type: 'A', data: {}, metadata: { actor: 't', correlationId: 'c', causationId: null, requestId: null, occurredAt: '', schemaVersion: 1 } }], 'no_stream')).resolves.toBeDefined();
    await reopened.close();
  });

  it('a live subscription wakes on an append made by another process, without polling', async () => {
    const file = join(dir.path, 'shared.db');
    // The idle wake-up is a minute: only the file watcher can deliver within the test's time.
    const store = new SqliteEventStore(file, { idleWakeMs: 60_000 });
    const sub = store.subscribeToAll();
    const iterator = sub[Symbol.asyncIterator]();
    const next = iterator.next();
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const child = spawn(process.execPath, [worker, file, 'once', 'from-other-process'], { stdio: 'ignore' });
    const first = await next;
    expect(first.value?.stream).toBe('from-other-process');
    expect(Date.now() - started).toBeLessThan(10_000);
    await new Promise((r) => child.on('exit', r));
    await sub.close();
    await store.close();
  });
});
