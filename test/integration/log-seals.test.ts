import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LogSealer } from '../../src/audit/log-sealer';
import { verifyLog } from '../../src/audit/log-verification';
import { readSeal, SEAL_STREAM, SealData, sealLog } from '../../src/event-store/log-seals';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { Leases } from '../../src/messaging/leases';
import { SqliteReadStore } from '../../src/read-store/sqlite/sqlite-read-store';
import { newEvent } from '../contract/event-store.contract';
import { tempDir } from '../support/temp';

const actor = 'system:test-sealer';

async function seals(store: SqliteEventStore): Promise<Array<SealData & { actor: string }>> {
  const events = await store.readStream(SEAL_STREAM).catch(() => []);
  return events.map((e) => ({ ...(readSeal(e) as SealData), actor: e.metadata.actor }));
}

describe('seal rounds', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());
  const fresh = () => new SqliteEventStore(join(dir.path, `${randomUUID()}.db`));

  it('seal the heads of the streams that moved, each seal taking up where the last stopped; a round with nothing new writes nothing', async () => {
    const store = fresh();
    await store.append('a', [newEvent('A'), newEvent('A')], 'no_stream');
    await store.append('b', [newEvent('B')], 'no_stream');
    expect(await sealLog(store, { actor })).toEqual({ seals: 1, heads: 2, through: 3 });
    // Only the seal moved since: no seal of the seal alone.
    expect(await sealLog(store, { actor })).toEqual({ seals: 0, heads: 0, through: 3 });
    await store.append('a', [newEvent('A')], 1);
    expect(await sealLog(store, { actor })).toMatchObject({ seals: 1, through: 5 });
    const [first, second] = await seals(store);
    const [a1] = await store.readStream('a', { direction: 'backwards', maxCount: 1 });
    expect(first).toMatchObject({ from: 0, through: 3, heads: [{ stream: 'a', revision: 1 }, { stream: 'b', revision: 0, hash: expect.stringMatching(/^[0-9a-f]{64}$/) }] });
    // The second covers the first seal too (the seals' own head) and the stream that moved.
    expect(second).toMatchObject({ from: 3, through: 5, heads: [{ stream: SEAL_STREAM, revision: 0 }, { stream: 'a', revision: 2, hash: a1.metadata.hash }] });
    expect(await verifyLog(store)).toMatchObject({ ok: true, seals: 2, unsealedEvents: 0, latestSeal: { through: 5 } });
    await store.close();
  });

  it('split a large round into seals of at most so many heads, which verify as one', async () => {
    const store = fresh();
    for (let i = 0; i < 7; i++) await store.append(`s-${i}`, [newEvent('S')], 'no_stream');
    expect(await sealLog(store, { actor, maxHeads: 3, pageSize: 2 })).toEqual({ seals: 3, heads: 7, through: 7 });
    expect((await seals(store)).map((s) => [s.from, s.through, s.heads.length])).toEqual([[0, 3, 3], [3, 6, 3], [6, 7, 1]]);
    expect(await verifyLog(store, { pageSize: 2 })).toMatchObject({ ok: true, seals: 3, checkedStreams: 8 });
    await store.close();
  });

  it('two rounds at once: one writes each seal, the other stops at its first refusal, and the seals still follow on', async () => {
    const store = fresh();
    for (let i = 0; i < 20; i++) await store.append(`c-${i}`, [newEvent('C')], 'no_stream');
    const rounds = await Promise.all([sealLog(store, { actor: 'one', maxHeads: 5 }), sealLog(store, { actor: 'two', maxHeads: 5 })]);
    expect(rounds.map((r) => r.seals).sort()).toEqual([0, 4]);
    expect(await verifyLog(store)).toMatchObject({ ok: true, seals: 4 });
    await store.close();
  });

  it('a round stopped part-way leaves whole seals; the next one takes up after the last', async () => {
    const store = fresh();
    for (let i = 0; i < 9; i++) await store.append(`p-${i}`, [newEvent('P')], 'no_stream');
    let pages = 0;
    expect(await sealLog(store, { actor, maxHeads: 2, pageSize: 3, stop: () => ++pages > 2 })).toMatchObject({ seals: 2, through: 4 });
    // The two seals it wrote (positions 10 and 11) are sealed with the rest.
    expect(await sealLog(store, { actor, maxHeads: 2, pageSize: 3 })).toMatchObject({ through: 11 });
    expect((await seals(store)).map((s) => [s.from, s.through])).toEqual([[0, 2], [2, 4], [4, 6], [6, 8], [8, 11]]);
    expect(await verifyLog(store)).toMatchObject({ ok: true, unsealedEvents: 0 });
    await store.close();
  });

  it('a seal removed from the middle is found; the newest seal removed with what it alone covered, only by its hash kept outside', async () => {
    const store = fresh();
    const file = (store as unknown as { file: string }).file;
    for (let round = 0; round < 3; round++) {
      await store.append(`r-${round}`, [newEvent('R'), newEvent('R')], 'no_stream');
      await sealLog(store, { actor });
    }
    expect(await verifyLog(store)).toMatchObject({ ok: true, seals: 3 });
    // An older seal kept outside is still there too.
    const earlier = (await store.readStream(SEAL_STREAM))[1].metadata.hash as string;
    expect(await verifyLog(store, { anchor: earlier })).toMatchObject({ ok: true });
    const anchor = (await verifyLog(store)).latestSeal!.hash!;
    const db = new Database(file);
    // The newest seal and the stream it alone covered: nothing left in the log says they were
    // there; only the newest seal's hash, kept outside, does.
    db.prepare(`DELETE FROM events WHERE stream IN ('${SEAL_STREAM}', 'r-2') AND position >= (SELECT position FROM events WHERE stream = 'r-2' AND revision = 0)`).run();
    expect(await verifyLog(store)).toMatchObject({ ok: true, seals: 2 });
    expect(await verifyLog(store, { anchor })).toMatchObject({ ok: false, breaks: [{ stream: SEAL_STREAM, reason: 'ANCHOR_MISSING' }] });
    // The middle seal: the seals no longer follow on (and their chain has a gap).
    db.prepare(`DELETE FROM events WHERE stream = '${SEAL_STREAM}' AND revision = 0`).run();
    const report = await verifyLog(store, { anchor });
    db.close();
    // The seal stream is reported once for itself; the anchor missing is told besides.
    expect(report.breaks).toEqual([expect.objectContaining({ stream: SEAL_STREAM, reason: 'BAD_SEAL', revision: 1 }), expect.objectContaining({ stream: SEAL_STREAM, reason: 'ANCHOR_MISSING' })]);
    expect(report.brokenStreams).toBe(1);
    await store.close();
  });
});

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('the sealer under its lease', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

  function instance(name: string) {
    const events = new SqliteEventStore(join(dir.path, 'events.db'));
    const read = new SqliteReadStore(join(dir.path, 'read.db'));
    const leases = new Leases(read, { id: `${name}-${randomUUID()}`, host: hostname(), pid: process.pid }, 300);
    const sealer = new LogSealer(events, leases, 30, quiet);
    return { events, read, sealer, holder: leases.holder.id, state: () => sealer.state };
  }

  it('one instance seals while the other stands by; it seals once more as it stops, and the other takes over', async () => {
    const a = instance('a');
    const b = instance('b');
    await a.sealer.start();
    await b.sealer.start();
    expect([a.state(), b.state()]).toEqual(['running', 'standby']);
    for (let i = 0; i < 5; i++) {
      await a.events.append(`m-${i}`, [newEvent('M')], 'no_stream');
      await b.events.append(`n-${i}`, [newEvent('N')], 'no_stream');
      await new Promise((r) => setTimeout(r, 40));
    }
    const last = await b.events.append('n-last', [newEvent('N')], 'no_stream');
    await a.sealer.stop();
    const byA = await seals(a.events);
    expect(byA.length).toBeGreaterThan(1);
    expect(new Set(byA.map((s) => s.actor))).toEqual(new Set([`system:log-sealer (${a.holder})`]));
    // Its last seal, on the way out, covers what was written last (by either instance).
    expect(byA[byA.length - 1].through).toBeGreaterThanOrEqual(last.position);
    // The lease is free at once: the other takes it at its next lease round and seals from there.
    await until('B to take the lease', () => b.state() === 'running');
    await b.events.append('n-after', [newEvent('N')], 'no_stream');
    await until('a seal by B', async () => (await seals(b.events)).pop()!.actor === `system:log-sealer (${b.holder})`);
    expect(await verifyLog(b.events)).toMatchObject({ ok: true });
    await b.sealer.stop();
    for (const x of [a, b]) {
      await x.events.close();
      await x.read.close();
    }
  });
});
