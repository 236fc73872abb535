import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Subject } from 'rxjs';
import { EventStore, NewEvent, RecordedEvent } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { Leases, RunnerLease, thisProcess } from '../../src/messaging/leases';
import { Saga } from '../../src/messaging/projection';
import { SAGAS_COLLECTION, SagaRunner } from '../../src/messaging/saga-runner';
import { Committed, PROJECTIONS_COLLECTION, ProjectionRunner, RunnerLogger } from '../../src/messaging/projection-runner';
import { SqliteReadStore } from '../../src/read-store/sqlite/sqlite-read-store';
import { countingProjection } from '../support/counting-projection';
import { tempDir } from '../support/temp';

function counted(n: number): NewEvent[] {
  return Array.from({ length: n }, () => ({
    id: randomUUID(),
    type: 'Counted',
    data: {},
    metadata: { actor: 't', correlationId: 'c', causationId: null, requestId: null, occurredAt: new Date().toISOString(), schemaVersion: 1 },
  }));
}

async function appendCounted(store: EventStore, total: number, streams: number): Promise<void> {
  for (let i = 0; i < total; i++) await store.append(`counter-${i % streams}`, counted(1), 'any');
}

/** An event store whose every call goes to the log it points at now: a log replaced under a running app (a server restored). */
function replaceable(first: EventStore): { store: EventStore; replace(next: EventStore): void } {
  let current = first;
  const store = new Proxy(first, {
    get: (_target, prop) => {
      const value: unknown = Reflect.get(current, prop);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(current) : value;
    },
  });
  return { store, replace: (next) => (current = next) };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a projection checked against its log', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());
  let sub: string;
  let read: SqliteReadStore;
  const open: Array<{ close(): Promise<void> }> = [];
  beforeEach(() => {
    sub = join(dir.path, randomUUID());
    mkdirSync(sub);
    read = new SqliteReadStore(join(sub, 'read.db'));
    open.push(read);
  });
  afterEach(async () => {
    for (const s of open.splice(0).reverse()) await s.close();
  });
  const log = (name: string) => {
    const s = new SqliteEventStore(join(sub, name));
    open.unshift(s);
    return s;
  };

  /** The runner as the app runs it: under a lease, whose rounds (every 50 ms here) check the checkpoint. */
  function leased(events: EventStore, logged: string[], onError: () => void = () => undefined) {
    const logger: RunnerLogger = {
      info: (_o, m) => logged.push(`info: ${m}`),
      warn: (_o, m) => logged.push(`warn: ${m}`),
      error: (o, m) => {
        logged.push(`error: ${m}: ${(o as { reason?: string }).reason ?? ''}`);
        onError();
      },
    };
    const lease = new RunnerLease(new Leases(read, thisProcess(), 150), 'projection:counting', () => undefined);
    return new ProjectionRunner(countingProjection, events, read, { batchSize: 50, maxWaitMs: 0 }, logger, new Subject<Committed>(), lease);
  }

  /** The counters a runner of its own builds from this log alone, on a fresh read store. */
  async function fromScratch(events: EventStore) {
    const scratch = new SqliteReadStore(join(sub, `scratch-${randomUUID()}.db`));
    const r = new ProjectionRunner(countingProjection, events, scratch, { batchSize: 50, maxWaitMs: 0 }, { info: () => undefined, warn: () => undefined, error: () => undefined }, new Subject<Committed>());
    await r.start();
    await r.waitFor(await events.headPosition());
    const docs = await scratch.find(r.collection('counters'), {}, { sort: { _id: 1 } });
    await r.stop();
    await scratch.close();
    return docs;
  }

  it('finds, at a lease round, that the log under it is another one (the event at its checkpoint is not there), stops serving, rebuilds from that log and serves again', async () => {
    const a = log('a.db');
    const b = log('b.db');
    await appendCounted(a, 100, 5);
    // Another log, longer: the head alone would not tell them apart.
    await appendCounted(b, 150, 3);
    const logged: string[] = [];
    const { store, replace } = replaceable(a);
    // What the runner says of its model when it reports the mismatch.
    const refusals: Array<string | null> = [];
    const r: ProjectionRunner = leased(store, logged, () => refusals.push(r.unavailable()?.reason ?? null));
    await r.start();
    await r.waitFor(100);
    expect(r.unavailable()).toBeNull();
    const stored = await read.findOne(PROJECTIONS_COLLECTION, { _id: 'counting' });
    expect(stored).toMatchObject({ checkpoint: 100, checkpointId: (await a.readAll({ from: 99 }))[0].id });

    replace(b);
    await until('the rebuild from the other log', () => r.generation === 2 && r.unavailable() === null);
    expect(logged).toContainEqual(expect.stringMatching(/^error: the read model does not match the event log.*the event at checkpoint 100 \(.*\) is not in the event log/));
    expect(refusals).toEqual([expect.stringMatching(/is not in the event log/)]);
    expect(logged).toContainEqual('warn: rebuilt from the log: the read model is served again');
    expect(await read.find(r.collection('counters'), {}, { sort: { _id: 1 } })).toEqual(await fromScratch(b));

    // It goes on with that log.
    await appendCounted(b, 10, 3);
    await r.waitFor(await b.headPosition());
    expect(await read.find(r.collection('counters'), {}, { sort: { _id: 1 } })).toEqual(await fromScratch(b));
    expect(await read.findOne(PROJECTIONS_COLLECTION, { _id: 'counting' })).toMatchObject({ generation: 2, checkpoint: 160, refused: null });
    await r.stop();
  });

  it('reads a state document from before checkpoint ids: checked by the head alone, served, and given the id at its next commit', async () => {
    const a = log('a.db');
    await appendCounted(a, 30, 3);
    const first = leased(a, []);
    await first.start();
    await first.waitFor(30);
    await first.stop();
    // As the code before wrote it: no checkpointId, no refusal field.
    await read.commit([{ op: 'updateOne', collection: PROJECTIONS_COLLECTION, filter: { _id: 'counting' }, update: { $unset: { checkpointId: '', refused: '' } } }]);
    const old = await read.findOne(PROJECTIONS_COLLECTION, { _id: 'counting' });
    expect(old).toMatchObject({ checkpoint: 30 });
    expect(old).not.toHaveProperty('checkpointId');
    const logged: string[] = [];
    const r = leased(a, logged);
    await r.start();
    expect(r.unavailable()).toBeNull();
    expect(r.generation).toBe(1);
    await appendCounted(a, 5, 3);
    await r.waitFor(35);
    expect(await read.findOne(PROJECTIONS_COLLECTION, { _id: 'counting' })).toMatchObject({ checkpoint: 35, checkpointId: (await a.readAll({ from: 34 }))[0].id });
    expect(logged.filter((l) => l.startsWith('error'))).toEqual([]);
    await r.stop();
  });

  it('refuses a model whose checkpoint is past the end of the log, and makes no read-your-writes wait pass on it', async () => {
    const a = log('a.db');
    await appendCounted(a, 100, 5);
    const logged: string[] = [];
    const first = leased(a, logged);
    await first.start();
    await first.waitFor(100);
    await first.stop();
    // The same read store over a log of 40 events: an older backup of it, say.
    const older = log('older.db');
    await appendCounted(older, 40, 2);
    const refusals: Array<string | undefined> = [];
    const r: ProjectionRunner = leased(older, logged, () => refusals.push(r.unavailable()?.reason));
    // Position 60 is below the old checkpoint: a wait for it passes only once a model that has it is served.
    const waiting = r.start().then(() => r.waitFor(60));
    await appendCounted(older, 20, 2);
    await waiting;
    expect(refusals).toEqual([expect.stringMatching(/checkpoint 100 is past the end of the event log \(head 40\)/)]);
    expect(r.unavailable()).toBeNull();
    expect(r.generation).toBe(2);
    const served = await read.find(r.collection('counters'), {}, { sort: { _id: 1 } });
    expect(served.reduce((n, d) => n + (d.n as number), 0)).toBe(60);
    expect(await read.find(r.collection('counters'), {}, { sort: { _id: 1 } })).toEqual(await fromScratch(older));
    await r.stop();
  });
});

describe('a saga checked against its log', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('a checkpoint past the end of the log goes back to its head: new events are acted on, old ones not again', async () => {
    const events = new SqliteEventStore(join(dir.path, 'events.db'));
    const read = new SqliteReadStore(join(dir.path, 'read.db'));
    await appendCounted(events, 40, 2);
    // The read store remembers a longer log: the saga had got to 100.
    await read.commit([{ op: 'updateOne', collection: SAGAS_COLLECTION, filter: { _id: 'wanting' }, update: { $set: { checkpoint: 100 } }, upsert: true }]);
    const sent: number[] = [];
    const logged: string[] = [];
    const saga: Saga = { name: 'wanting', handlers: { Wanted: (e: RecordedEvent) => (sent.push(e.position), []) } };
    const logger: RunnerLogger = { info: () => undefined, warn: () => undefined, error: (o, m) => logged.push(`${m}: ${(o as { reason?: string }).reason}`) };
    const runner = new SagaRunner(saga, events, read, async () => undefined, { batchSize: 10, maxWaitMs: 0 }, logger);
    await runner.start();
    const wanted = await events.append('w-1', [{ ...counted(1)[0], type: 'Wanted' }], 'no_stream');
    expect(wanted.position).toBe(41);
    await until('the saga to reach the new event', () => runner.checkpoint >= 41);
    await runner.stop();
    expect(sent).toEqual([41]);
    expect(logged).toEqual([expect.stringMatching(/^the saga checkpoint does not match the event log: resuming from the log's head: checkpoint 100 is past the end of the event log \(head 40\)/)]);
    expect((await read.findOne(SAGAS_COLLECTION, { _id: 'wanting' }))?.checkpoint).toBe(41);
    await read.close();
    await events.close();
  });
});
