import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Subject } from 'rxjs';
import { NewEvent, RecordedEvent } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { Holder, LEASES_COLLECTION, Leases, RunnerLease } from '../../src/messaging/leases';
import { Saga } from '../../src/messaging/projection';
import { Committed, ProjectionRunner } from '../../src/messaging/projection-runner';
import { SAGAS_COLLECTION, SagaRunner } from '../../src/messaging/saga-runner';
import { ConcurrentCommitError } from '../../src/read-store/read-store.port';
import { SqliteReadStore } from '../../src/read-store/sqlite/sqlite-read-store';
import { countingProjection } from '../support/counting-projection';
import { silentLogger, tempDir } from '../support/temp';

const quiet = { ...silentLogger, error: () => undefined };
const TTL = 300;

function holder(name: string, pid = process.pid): Holder {
  return { id: `${name}-${randomUUID()}`, host: hostname(), pid };
}

function counted(n: number, type = 'Counted'): NewEvent[] {
  return Array.from({ length: n }, () => ({
    id: randomUUID(),
    type,
    data: {},
    metadata: { actor: 't', correlationId: 'c', causationId: null, requestId: null, occurredAt: new Date().toISOString(), schemaVersion: 1 },
  }));
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('leases', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());
  let read: SqliteReadStore;
  let now = 1_000_000;
  const clock = () => now;
  beforeEach(() => {
    read = new SqliteReadStore(join(dir.path, `leases-${randomUUID()}.db`));
  });
  afterEach(() => read.close());

  it('one holder at a time; an expired lease is taken over with a new token, and the old holder can neither renew nor write', async () => {
    const a = new Leases(read, holder('a'), TTL, clock);
    const b = new Leases(read, holder('b'), TTL, clock);
    await read.commit([{ op: 'insertOne', collection: 'models', doc: { _id: 'seed' } }]);
    const leaseA = (await a.acquire('projection:x'))!;
    expect(leaseA).toEqual({ name: 'projection:x', token: 1 });
    expect(await b.acquire('projection:x')).toBeNull();
    now += TTL - 1;
    expect(await a.renew(leaseA)).toBe(true);
    now += TTL - 1;
    expect(await b.acquire('projection:x')).toBeNull();
    now += 2;
    const leaseB = (await b.acquire('projection:x'))!;
    expect(leaseB.token).toBe(2);
    expect(await a.renew(leaseA)).toBe(false);
    // A's late batch, fenced with its old token, is refused whole.
    const late = read.commit([{ op: 'insertOne', collection: 'models', doc: { _id: 'late' } }, a.fence(leaseA)]);
    await expect(late).rejects.toBeInstanceOf(ConcurrentCommitError);
    await expect(late).rejects.toMatchObject({ collection: LEASES_COLLECTION });
    expect(Leases.lost(await late.catch((e) => e))).toBe(true);
    expect(await read.findOne('models', { _id: 'late' })).toBeNull();
    await read.commit([{ op: 'insertOne', collection: 'models', doc: { _id: 'fresh' } }, b.fence(leaseB)]);
    expect(await read.findOne('models', { _id: 'fresh' })).toEqual({ _id: 'fresh' });
  });

  it('a released lease is free at once', async () => {
    const a = new Leases(read, holder('a'), TTL, clock);
    const b = new Leases(read, holder('b'), TTL, clock);
    const leaseA = (await a.acquire('saga:y'))!;
    expect(await b.acquire('saga:y')).toBeNull();
    await a.release(leaseA);
    expect(await b.acquire('saga:y')).toEqual({ name: 'saga:y', token: 2 });
  });

  it('a lease held by a process of this host that has exited is free before it expires; one held by a live process is not', async () => {
    const exited = spawnSync(process.execPath, ['-e', '']);
    expect(exited.status).toBe(0);
    const dead = new Leases(read, holder('dead', exited.pid), 60_000, clock);
    expect(await dead.acquire('projection:z')).not.toBeNull();
    const other = new Leases(read, holder('other'), 60_000, clock);
    expect(await other.acquire('projection:z')).toEqual({ name: 'projection:z', token: 2 });
    // The holder now is this (live) process under another id: it keeps the lease until it expires.
    const third = new Leases(read, holder('third'), 60_000, clock);
    expect(await third.acquire('projection:z')).toBeNull();
  });
});

describe('runners under leases', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());
  // Whatever a test started is stopped even when it fails half-way, so no loop outlives it.
  const started: Array<{ stop(): Promise<void> }> = [];
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const r of started.splice(0)) await r.stop().catch(() => undefined);
    for (const close of closers.splice(0)) await close().catch(() => undefined);
  });
  function track<T extends { stop(): Promise<void> }>(runner: T): T {
    started.push(runner);
    return runner;
  }

  /** Two instances of one runner, each with its own connections and holder id, on the same files. */
  function pair(name: string) {
    const sub = join(dir.path, name);
    mkdirSync(sub);
    const events = new SqliteEventStore(join(sub, 'events.db'));
    const instance = () => {
      const read = new SqliteReadStore(join(sub, 'read.db'));
      let commits = 0;
      const counting = Object.assign(Object.create(read), { commit: (...args: Parameters<SqliteReadStore['commit']>) => (commits++, read.commit(...args)) }) as SqliteReadStore;
      const leases = new Leases(counting, holder(name), TTL);
      return { read, store: counting, leases, commits: () => commits, resetCommits: () => (commits = 0) };
    };
    const pairOf = { events, a: instance(), b: instance() };
    closers.push(() => pairOf.a.read.close(), () => pairOf.b.read.close(), () => events.close());
    return pairOf;
  }

  it('a projection is applied by the holder alone; the standby follows its commits, tells its own clients, and takes over when the holder stops', async () => {
    const { events, a, b } = pair('projection');
    const heardA: number[] = [];
    const heardB: number[] = [];
    const notesA = new Subject<Committed>();
    const notesB = new Subject<Committed>();
    notesA.subscribe((c) => heardA.push(...c.events.map((e) => e.position)));
    notesB.subscribe((c) => heardB.push(...c.events.map((e) => e.position)));
    const runnerA = track(new ProjectionRunner(countingProjection, events, a.store, { batchSize: 50, maxWaitMs: 0 }, quiet, notesA, new RunnerLease(a.leases, 'projection:counting', () => undefined)));
    const runnerB = track(new ProjectionRunner(countingProjection, events, b.store, { batchSize: 50, maxWaitMs: 0 }, quiet, notesB, new RunnerLease(b.leases, 'projection:counting', () => undefined)));
    await runnerA.start();
    await runnerB.start();
    expect([runnerA.state, runnerB.state]).toEqual(['running', 'standby']);
    b.resetCommits();
    for (let i = 0; i < 300; i++) await events.append(`counter-${i % 7}`, counted(1), 'any');
    let head = await events.headPosition();
    await Promise.all([runnerA.waitFor(head), runnerB.waitFor(head)]);
    // The standby wrote nothing (its lease rounds write only when it takes a lease), and heard every commit.
    expect(b.commits()).toBe(0);
    const all = (await events.readAll({ from: 0, maxCount: 10_000 })).map((e) => e.position);
    // A standby's waitFor answers on the holder's checkpoint; it tells its clients as its own
    // subscription reaches the events, which may be a moment later.
    await until('the standby to hear every commit', () => heardB.length >= all.length);
    expect(heardB).toEqual(all);
    expect(heardA).toEqual(all);

    // The holder stops cleanly and gives the lease up; the standby takes over at its next round.
    await runnerA.stop();
    await until('the standby to take over', () => runnerB.state === 'running');
    for (let i = 0; i < 200; i++) await events.append(`counter-${i % 7}`, counted(1), 'any');
    head = await events.headPosition();
    await runnerB.waitFor(head);
    expect(b.commits()).toBeGreaterThan(0);
    const docs = await b.read.find(runnerB.collection('counters'), {}, { sort: { _id: 1 } });
    // Every position applied exactly once, by one instance or the other.
    expect(docs.flatMap((d) => d.positions as number[]).sort((x, y) => x - y)).toEqual((await events.readAll({ from: 0, maxCount: 10_000 })).map((e) => e.position));
    expect(docs.reduce((n, d) => n + (d.n as number), 0)).toBe(500);
    await runnerB.stop();
  });

  it('a holder whose lease was taken over (it paused past the expiry) has its next batch refused, applies nothing twice, and stands by', async () => {
    const { events, a, b } = pair('paused');
    // A renews rarely: from the moment its lease is marked expired, it is a holder paused past its expiry.
    const slowA = new Leases(a.store, holder('a'), 60_000);
    const runnerA = track(new ProjectionRunner(countingProjection, events, a.store, { batchSize: 50, maxWaitMs: 0 }, quiet, new Subject(), new RunnerLease(slowA, 'projection:counting', () => undefined)));
    await runnerA.start();
    for (let i = 0; i < 100; i++) await events.append(`counter-${i % 5}`, counted(1), 'any');
    await runnerA.waitFor(await events.headPosition());
    // B finds the lease expired and takes it; A does not know yet.
    await a.read.commit([{ op: 'updateOne', collection: LEASES_COLLECTION, filter: { _id: 'projection:counting' }, update: { $set: { expiresAt: 0 } } }]);
    const runnerB = track(new ProjectionRunner(countingProjection, events, b.store, { batchSize: 50, maxWaitMs: 0 }, quiet, new Subject(), new RunnerLease(b.leases, 'projection:counting', () => undefined)));
    await runnerB.start();
    expect(runnerB.state).toBe('running');
    for (let i = 0; i < 100; i++) await events.append(`counter-${i % 5}`, counted(1), 'any');
    const head = await events.headPosition();
    await Promise.all([runnerA.waitFor(head), runnerB.waitFor(head)]);
    expect(runnerA.state).toBe('standby');
    const docs = await b.read.find(runnerB.collection('counters'), {}, { sort: { _id: 1 } });
    expect(docs.flatMap((d) => d.positions as number[]).sort((x, y) => x - y)).toEqual((await events.readAll({ from: 0, maxCount: 10_000 })).map((e) => e.position));
    await runnerA.stop();
    await runnerB.stop();
  });

  it('a rebuild asked of the standby is run by the holder', async () => {
    const { events, a, b } = pair('rebuild');
    const runnerA = track(new ProjectionRunner(countingProjection, events, a.store, { batchSize: 50, maxWaitMs: 0 }, quiet, new Subject(), new RunnerLease(a.leases, 'projection:counting', () => undefined)));
    const runnerB = track(new ProjectionRunner(countingProjection, events, b.store, { batchSize: 50, maxWaitMs: 0 }, quiet, new Subject(), new RunnerLease(b.leases, 'projection:counting', () => undefined)));
    await runnerA.start();
    await runnerB.start();
    for (let i = 0; i < 400; i++) await events.append(`counter-${i % 5}`, counted(1), 'any');
    const head = await events.headPosition();
    await Promise.all([runnerA.waitFor(head), runnerB.waitFor(head)]);
    b.resetCommits();
    const asked = await runnerB.beginRebuild();
    expect(asked.generation).toBe(2);
    await until('the holder to swap the rebuild in', () => runnerA.generation === 2 && runnerA.state === 'running');
    await until('the standby to follow the swap', () => runnerB.generation === 2);
    expect(runnerB.state).toBe('standby');
    // The standby wrote the request and nothing of the rebuild itself.
    expect(b.commits()).toBe(1);
    const report = await runnerB.verify();
    expect(report).toMatchObject({ ok: true, differences: [] });
    await runnerA.stop();
    await runnerB.stop();
  });

  it('a saga sends its commands from the holder only, and the standby resumes from the checkpoint the holder wrote', async () => {
    const { events, a, b } = pair('saga');
    const sent: Array<{ by: string; event: string }> = [];
    const saga: Saga = { name: 'echo', handlers: { Wanted: (e: RecordedEvent) => [{ key: 'k', decider: null as never, stream: e.stream, command: {} }] } };
    const make = (by: string, inst: typeof a) =>
      track(new SagaRunner(saga, events, inst.store, async (_c, context) => void sent.push({ by, event: String(context.causationId) }), { batchSize: 10, maxWaitMs: 0 }, quiet, new RunnerLease(inst.leases, 'saga:echo', () => undefined)));
    const sagaA = make('a', a);
    const sagaB = make('b', b);
    await sagaA.start();
    await sagaB.start();
    expect([sagaA.state, sagaB.state]).toEqual(['running', 'standby']);
    const first = await Promise.all(Array.from({ length: 20 }, (_, i) => events.append(`w-${i}`, counted(1, 'Wanted'), 'no_stream')));
    await until('A to send the first commands', () => sagaA.checkpoint >= first[first.length - 1].position);
    await sagaA.stop();
    const stored = (await a.read.findOne(SAGAS_COLLECTION, { _id: 'echo' }))?.checkpoint;
    expect(stored).toBe(first[first.length - 1].position);
    await until('B to take over', () => sagaB.state === 'running');
    const second = await Promise.all(Array.from({ length: 20 }, (_, i) => events.append(`w-${20 + i}`, counted(1, 'Wanted'), 'no_stream')));
    await until('B to send the rest', () => sagaB.checkpoint >= second[second.length - 1].position);
    const wanted = (await events.readAll({ from: 0, maxCount: 1000 })).map((e) => e.id);
    expect(sent.map((s) => s.event).sort()).toEqual([...wanted].sort());
    expect(sent.filter((s) => s.by === 'a')).toHaveLength(20);
    expect(sent.filter((s) => s.by === 'b')).toHaveLength(20);
    await sagaB.stop();
  });
});
