import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Subject } from 'rxjs';
import { EventStore, EventSubscription, NewEvent, RecordedEvent, SubscribeOptions } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { machineDecider, machineStream } from '../../src/machines/machine.decider';
import { CommandPipeline } from '../../src/messaging/command-pipeline';
import { Projection, Saga } from '../../src/messaging/projection';
import { Committed, PROJECTIONS_COLLECTION, ProjectionRunner } from '../../src/messaging/projection-runner';
import { SAGAS_COLLECTION, SagaRunner } from '../../src/messaging/saga-runner';
import { physicalName } from '../../src/messaging/projection';
import { SqliteReadStore } from '../../src/read-store/sqlite/sqlite-read-store';
import { countingProjection } from '../support/counting-projection';
import { silentLogger, tempDir } from '../support/temp';

const quiet = { ...silentLogger, error: () => undefined };
const worker = join(__dirname, '../../dist/test/support/projection-worker.js');

function counted(n: number): NewEvent[] {
  return Array.from({ length: n }, () => ({
    id: randomUUID(),
    type: 'Counted',
    data: {},
    metadata: { actor: 't', correlationId: 'c', causationId: null, requestId: null, occurredAt: new Date().toISOString(), schemaVersion: 1 },
  }));
}

async function appendCounted(store: EventStore, total: number, streams = 10): Promise<void> {
  for (let i = 0; i < total; i++) await store.append(`counter-${i % streams}`, counted(1), 'any');
}

function runner(projection: Projection, events: EventStore, read: SqliteReadStore, committed = new Subject<Committed>()) {
  return new ProjectionRunner(projection, events, read, { batchSize: 50, maxWaitMs: 0 }, quiet, committed);
}

async function contents(read: SqliteReadStore, r: ProjectionRunner) {
  return read.find(r.collection('counters'), {}, { sort: { _id: 1 } });
}

/** The read model a fresh runner builds from the whole log: the reference every test compares with. */
async function fromScratch(dir: string, events: EventStore) {
  const read = new SqliteReadStore(join(dir, `scratch-${randomUUID()}.db`));
  const r = runner(countingProjection, events, read);
  await r.start();
  await r.waitFor(await events.headPosition());
  const docs = await contents(read, r);
  await r.stop();
  await read.close();
  return docs;
}

/** An event store that delivers every event of a subscription twice. */
function doubleDelivery(inner: EventStore): EventStore {
  return Object.assign(Object.create(inner), {
    subscribeToAll(options?: SubscribeOptions): EventSubscription {
      const sub = inner.subscribeToAll(options);
      async function* twice() {
        for await (const e of sub) {
          yield e;
          yield e;
        }
      }
      const it = twice();
      return { [Symbol.asyncIterator]: () => it, close: () => sub.close() };
    },
  });
}

describe('projection runner', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());
  let events: SqliteEventStore;
  let read: SqliteReadStore;
  let sub: string;
  beforeEach(() => {
    sub = join(dir.path, randomUUID());
    mkdirSync(sub);
    events = new SqliteEventStore(join(sub, 'events.db'));
    read = new SqliteReadStore(join(sub, 'read.db'));
  });
  afterEach(async () => {
    await read.close();
    await events.close();
  });

  it('applies every event once and resumes after a restart exactly where it stopped', async () => {
    await appendCounted(events, 120);
    const first = runner(countingProjection, events, read);
    await first.start();
    await first.waitFor(await events.headPosition());
    await first.stop();
    await appendCounted(events, 80);
    const second = runner(countingProjection, events, read);
    await second.start();
    expect(second.checkpoint).toBe(120);
    await second.waitFor(await events.headPosition());
    await second.stop();
    const docs = await contents(read, second);
    expect(docs.reduce((s, d) => s + (d.n as number), 0)).toBe(200);
    expect(docs).toEqual(await fromScratch(sub, events));
  });

  it('live events a projection ignores are passed in memory, not written one by one; a clean stop writes where it got to', async () => {
    let commits = 0;
    const counting = Object.assign(Object.create(read), { commit: (...args: Parameters<SqliteReadStore['commit']>) => (commits++, read.commit(...args)) }) as SqliteReadStore;
    const r = runner(countingProjection, events, counting);
    await r.start();
    await appendCounted(events, 3);
    await r.waitFor(await events.headPosition());
    const stored = async () => (await read.findOne(PROJECTIONS_COLLECTION, { _id: 'counting' }))?.checkpoint;
    const afterCounted = await events.headPosition();
    expect(await stored()).toBe(afterCounted);
    commits = 0;
    const ignored = () => ({ ...counted(1)[0], type: 'Ignored' });
    for (let i = 0; i < 100; i++) {
      await events.append(`other-${i}`, [ignored()], 'no_stream');
      await r.waitFor(await events.headPosition()); // read-your-writes passes the ignored events at once
    }
    expect(r.checkpoint).toBe(await events.headPosition());
    expect(commits).toBe(0);
    expect(await stored()).toBe(afterCounted);
    // The next event it handles commits together with the checkpoint past the ignored ones.
    await appendCounted(events, 1);
    await r.waitFor(await events.headPosition());
    expect(commits).toBe(1);
    expect(await stored()).toBe(await events.headPosition());
    for (let i = 0; i < 20; i++) await events.append(`more-${i}`, [ignored()], 'no_stream');
    await r.waitFor(await events.headPosition());
    expect(await stored()).toBe((await events.headPosition()) - 20);
    await r.stop();
    expect(await stored()).toBe(await events.headPosition());
    const again = runner(countingProjection, events, read);
    await again.start();
    expect(again.checkpoint).toBe(await events.headPosition());
    await again.stop();
    expect(await contents(read, again)).toEqual(await fromScratch(sub, events));
  });

  it('a live batch commits events on different documents together, and two changes of one document one after the other', async () => {
    // Events on counters a, b, a, c, d, d, e arrive as one page: a live batch.
    const streams = ['a', 'b', 'a', 'c', 'd', 'd', 'e'];
    for (const s of streams) await events.append(`counter-${s}`, counted(1), 'any');
    const all = await events.readAll({ from: 0, maxCount: 100 });
    const onePage: EventStore = Object.assign(Object.create(events), {
      subscribeToAll(): EventSubscription {
        let resolveClosed: () => void = () => undefined;
        const closedP = new Promise<void>((r) => (resolveClosed = r));
        async function* pages() {
          yield all;
          await closedP;
        }
        return {
          [Symbol.asyncIterator]: () => {
            throw new Error('read by pages');
          },
          pages: () => pages(),
          close: async () => resolveClosed(),
        } as EventSubscription;
      },
    });
    const notes = new Subject<Committed>();
    const commits: string[][] = [];
    notes.subscribe((c) => commits.push(c.events.map((e) => e.stream.replace('counter-', ''))));
    const r = runner(countingProjection, onePage, read, notes);
    await r.start();
    await r.waitFor(all[all.length - 1].position);
    await r.stop();
    expect(commits).toEqual([['a', 'b'], ['a', 'c', 'd'], ['d', 'e']]);
    const docs = await contents(read, r);
    expect(docs.map((d) => [d._id, d.n])).toEqual([['counter-a', 2], ['counter-b', 1], ['counter-c', 1], ['counter-d', 2], ['counter-e', 1]]);
  });

  it('an event delivered twice is applied once', async () => {
    await appendCounted(events, 60);
    const r = runner(countingProjection, doubleDelivery(events), read);
    await r.start();
    await r.waitFor(await events.headPosition());
    await r.stop();
    expect(await contents(read, r)).toEqual(await fromScratch(sub, events));
  });

  it('an event a projection cannot apply stops that projection only, recorded with its position, and can be retried after a fix', async () => {
    await appendCounted(events, 10);
    const poison = await events.append('poison-1', [{ ...counted(1)[0], type: 'Poison' }], 'no_stream');
    await appendCounted(events, 10);
    let fixed = false;
    const fragile: Projection = {
      ...countingProjection,
      name: 'fragile',
      collections: { fragile_counters: {} },
      handlers: {
        Counted: (e) => [{ op: 'updateOne', collection: 'fragile_counters', filter: { _id: e.stream }, update: { $inc: { n: 1 } }, upsert: true }],
        Poison: () => {
          if (!fixed) throw new Error('cannot read this event');
          return [];
        },
      },
    };
    const bad = runner(fragile, events, read);
    const good = runner(countingProjection, events, read);
    await bad.start();
    await good.start();
    await good.waitFor(await events.headPosition());
    await bad.waitFor(await events.headPosition());
    expect(bad.state).toBe('failed');
    expect(bad.failure).toMatchObject({ position: poison.position, eventType: 'Poison', error: 'cannot read this event' });
    expect(bad.checkpoint).toBe(poison.position - 1);
    expect(good.state).toBe('running');
    expect((await contents(read, good)).reduce((s, d) => s + (d.n as number), 0)).toBe(20);
    const persisted = await read.findOne('projections_state', { _id: 'fragile' });
    expect(persisted?.failure).toMatchObject({ position: poison.position });

    fixed = true;
    await bad.retry();
    await bad.waitFor(await events.headPosition());
    expect(bad.state).toBe('running');
    expect(bad.checkpoint).toBe(await events.headPosition());
    const fragileDocs = await read.find(bad.collection('fragile_counters'), {});
    expect(fragileDocs.reduce((s, d) => s + (d.n as number), 0)).toBe(20);
    await bad.stop();
    await good.stop();
  });

  it('a rebuild fills the next generation while the live one serves, then swaps it in', async () => {
    await appendCounted(events, 300);
    const r = runner(countingProjection, events, read);
    await r.start();
    await r.waitFor(await events.headPosition());
    const before = await contents(read, r);
    expect(r.generation).toBe(1);
    await r.beginRebuild();
    await appendCounted(events, 50); // writes during the rebuild
    await r.waitFor(await events.headPosition());
    for (let i = 0; i < 200 && r.generation === 1; i++) await new Promise((res) => setTimeout(res, 10));
    expect(r.generation).toBe(2);
    expect(r.state).toBe('running');
    await r.waitFor(await events.headPosition());
    expect((await contents(read, r)).reduce((s, d) => s + (d.n as number), 0)).toBe(350);
    expect(await contents(read, r)).toEqual(await fromScratch(sub, events));
    expect(before.reduce((s, d) => s + (d.n as number), 0)).toBe(300);
    expect(await read.listCollections()).not.toContain(physicalName('counters', 1));
    await r.stop();
  });

  it('a bumped version rebuilds at start-up', async () => {
    await appendCounted(events, 40);
    const v1 = runner(countingProjection, events, read);
    await v1.start();
    await v1.waitFor(await events.headPosition());
    await v1.stop();
    const v2 = runner({ ...countingProjection, version: 2 }, events, read);
    await v2.start();
    for (let i = 0; i < 200 && v2.generation === 1; i++) await new Promise((res) => setTimeout(res, 10));
    expect(v2.generation).toBe(2);
    expect((await read.findOne('projections_state', { _id: 'counting' }))?.version).toBe(2);
    expect(await contents(read, v2)).toEqual(await fromScratch(sub, events));
    await v2.stop();
  });

  it('two instances on the same files apply every event once, and both notify their own clients of every change', async () => {
    await appendCounted(events, 500);
    const otherEvents = new SqliteEventStore(join(sub, 'events.db'));
    const otherRead = new SqliteReadStore(join(sub, 'read.db'));
    const seenA = new Set<number>();
    const seenB = new Set<number>();
    const notesA = new Subject<Committed>();
    const notesB = new Subject<Committed>();
    notesA.subscribe((c) => c.events.forEach((e) => seenA.add(e.position)));
    notesB.subscribe((c) => c.events.forEach((e) => seenB.add(e.position)));
    const a = runner(countingProjection, events, read, notesA);
    const b = runner(countingProjection, otherEvents, otherRead, notesB);
    try {
      await Promise.all([a.start(), b.start()]);
      await appendCounted(events, 1500);
      const head = await events.headPosition();
      await Promise.all([a.waitFor(head), b.waitFor(head)]);
      expect(await contents(read, a)).toEqual(await fromScratch(sub, events));
      const after500 = (await events.readAll({ from: 500, maxCount: 10_000 })).map((e) => e.position);
      expect([...seenA].filter((p) => p > 500).sort((x, y) => x - y)).toEqual(after500);
      expect([...seenB].filter((p) => p > 500).sort((x, y) => x - y)).toEqual(after500);
    } finally {
      await a.stop();
      await b.stop();
      await otherRead.close();
      await otherEvents.close();
    }
  });

  it.each(['live', 'rebuild'])('killed with SIGKILL in the middle of a %s batch, it restarts to the same read model as a rebuild from scratch', async (mode) => {
    await appendCounted(events, 6000, 25);
    if (mode === 'rebuild') {
      const r = runner(countingProjection, events, read);
      await r.start();
      await r.waitFor(await events.headPosition());
      await r.stop();
    }
    await read.close();
    const child = spawn(process.execPath, [worker, sub, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const [, pos] = line.split(' ');
        if (Number(pos) > 2000) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    expect(child.signalCode).toBe('SIGKILL');
    read = new SqliteReadStore(join(sub, 'read.db'));
    const state = await read.findOne('projections_state', { _id: 'counting' });
    if (mode === 'rebuild') expect(state?.rebuild).not.toBeNull();
    const restarted = runner(countingProjection, events, read);
    await restarted.start();
    await restarted.waitFor(await events.headPosition());
    for (let i = 0; i < 300 && restarted.state === 'rebuilding'; i++) await new Promise((res) => setTimeout(res, 10));
    expect(restarted.state).toBe('running');
    expect(await contents(read, restarted)).toEqual(await fromScratch(sub, events));
    await restarted.stop();
  });
});

describe('saga runner', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('a saga passes over events it ignores without writing its checkpoint for each; a clean stop writes it, and a restart resumes there', async () => {
    const events = new SqliteEventStore(join(dir.path, `saga-skip-${randomUUID()}.db`));
    const read = new SqliteReadStore(join(dir.path, `saga-skip-read-${randomUUID()}.db`));
    let commits = 0;
    const counting = Object.assign(Object.create(read), { commit: (...args: Parameters<SqliteReadStore['commit']>) => (commits++, read.commit(...args)) }) as SqliteReadStore;
    const sent: string[] = [];
    const saga: Saga = { name: 'skipper', handlers: { Wanted: (e: RecordedEvent) => (sent.push(e.id), []) } };
    const make = () => new SagaRunner(saga, events, counting, async () => undefined, { batchSize: 10, maxWaitMs: 0 }, quiet);
    const stored = async () => (await read.findOne(SAGAS_COLLECTION, { _id: 'skipper' }))?.checkpoint;
    const until = async (r: SagaRunner, position: number) => {
      for (let i = 0; i < 500 && r.checkpoint < position; i++) await new Promise((res) => setTimeout(res, 5));
      expect(r.checkpoint).toBe(position);
    };
    const runner = make();
    await runner.start();
    const wanted = await events.append('w-1', [{ ...counted(1)[0], type: 'Wanted' }], 'no_stream');
    await until(runner, wanted.position);
    expect(await stored()).toBe(wanted.position);
    commits = 0;
    let head = 0;
    for (let i = 0; i < 50; i++) head = (await events.append(`ignored-${i}`, counted(1), 'no_stream')).position;
    await until(runner, head);
    expect(commits).toBe(0);
    expect(await stored()).toBe(wanted.position);
    await runner.stop();
    expect(await stored()).toBe(head);
    const again = make();
    await again.start();
    expect(again.checkpoint).toBe(head);
    await again.stop();
    expect(sent).toEqual([(await events.readStream('w-1'))[0].id]);
    await read.close();
    await events.close();
  });

  it('an event delivered twice sends its command once, with ids derived from the event', async () => {
    const events = new SqliteEventStore(join(dir.path, 'events.db'));
    const read = new SqliteReadStore(join(dir.path, 'read.db'));
    const pipeline = new CommandPipeline(events, silentLogger);
    const saga: Saga = {
      name: 'register-on-request',
      handlers: {
        MachineRequested: (e: RecordedEvent) => [
          {
            key: 'register',
            decider: machineDecider,
            stream: machineStream(String(e.data.id)),
            command: { type: 'RegisterMachine', id: e.data.id, phase: 'READY', hypervisor: false, capacity: null, labels: {}, at: e.metadata.occurredAt },
          },
        ],
      },
    };
    const sagaRunner = new SagaRunner(
      saga,
      doubleDelivery(events),
      read,
      (c, context) => pipeline.run(c.decider, c.stream, c.command, context),
      { batchSize: 10, maxWaitMs: 0 },
      quiet,
    );
    const trigger = await events.append('request-1', [{ ...counted(1)[0], type: 'MachineRequested', data: { id: 'hv9' } }], 'no_stream');
    await sagaRunner.start();
    for (let i = 0; i < 200 && sagaRunner.checkpoint < trigger.position; i++) await new Promise((r) => setTimeout(r, 10));
    // And once more by hand, as after a crash between sending and checkpointing.
    const [triggerEvent] = await events.readStream('request-1');
    await sagaRunner.handle(triggerEvent);
    await sagaRunner.stop();
    const machine = await events.readStream('machine-hv9');
    expect(machine).toHaveLength(1);
    expect(machine[0].metadata).toMatchObject({
      causationId: triggerEvent.id,
      correlationId: triggerEvent.metadata.correlationId,
      requestId: `register-on-request:${triggerEvent.id}:register`,
      actor: 'saga:register-on-request (for t)',
    });
    await read.close();
    await events.close();
  });
});
