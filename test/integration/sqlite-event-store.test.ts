import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { tempDir } from '../support/temp';

const worker = join(__dirname, '../../dist/test/support/append-worker.js');

describe('embedded event store on a real file', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('keeps the log in WAL mode', async () => {
    const file = join(dir.path, 'pragmas.db');
    const store = new SqliteEventStore(file);
    await store.close();
    const db = new Database(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
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
