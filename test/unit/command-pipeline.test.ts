import { join } from 'node:path';
import { validate, version } from 'uuid';
import { EventStore, WrongExpectedRevisionError } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { machineDecider, MachineCommand } from '../../src/machines/machine.decider';
import { CommandContext, CommandPipeline } from '../../src/messaging/command-pipeline';
import { ConflictError, NotFoundError } from '../../src/messaging/domain-errors';
import { silentLogger, tempDir } from '../support/temp';

const at = '2026-11-21T10:00:00.000Z';
const register = (id: string): MachineCommand => ({
  type: 'RegisterMachine',
  id,
  phase: 'READY',
  hypervisor: false,
  capacity: null,
  labels: {},
  at,
});
const ctx = (over: Partial<CommandContext> = {}): CommandContext => ({
  actor: 'operator:alice',
  correlationId: 'corr-1',
  causationId: null,
  requestId: null,
  issuedAt: at,
  ...over,
});

describe('command pipeline', () => {
  const dir = tempDir();
  let store: SqliteEventStore;
  let pipeline: CommandPipeline;

  beforeEach(() => {
    store = new SqliteEventStore(join(dir.path, `events-${Math.random()}.db`));
    pipeline = new CommandPipeline(store, silentLogger, 20);
  });
  afterEach(() => store.close());
  afterAll(() => dir.cleanup());

  it('records actor, correlation, causation, request, time and schema version on every event', async () => {
    await pipeline.run(machineDecider, 'machine-m1', register('m1'), ctx({ causationId: 'evt-0', requestId: 'req-1' }));
    const [e] = await store.readStream('machine-m1');
    expect(e.metadata).toMatchObject({
      actor: 'operator:alice',
      correlationId: 'corr-1',
      causationId: 'evt-0',
      requestId: 'req-1',
      occurredAt: at,
      schemaVersion: 1,
    });
  });

  it("records the command's digest only with a requestId, the one thing that reads it", async () => {
    await pipeline.run(machineDecider, 'machine-h1', register('h1'), ctx({ requestId: 'req-h1' }));
    await pipeline.run(machineDecider, 'machine-h2', register('h2'), ctx());
    const [withRequest] = await store.readStream('machine-h1');
    const [without] = await store.readStream('machine-h2');
    expect(withRequest.metadata.commandHash).toMatch(/^[0-9a-f]{32}$/);
    expect(without.metadata).not.toHaveProperty('commandHash');
    // The digest still tells a reused requestId with other parameters from a retry.
    const otherParameters: MachineCommand = { type: 'RegisterMachine', id: 'h1', phase: 'READY', hypervisor: false, capacity: null, labels: { other: 'x' }, at };
    await expect(pipeline.run(machineDecider, 'machine-h1', otherParameters, ctx({ requestId: 'req-h1' }))).rejects.toBeInstanceOf(ConflictError);
  });

  it('gives events no requestId derives time-ordered ids (UUIDv7); ids a requestId derives stay name-based (v5)', async () => {
    for (let i = 0; i < 20; i++) await pipeline.run(machineDecider, `machine-t${i}`, register(`t${i}`), ctx());
    const ids = (await store.readAll()).map((e) => e.id);
    expect(ids.every((id) => validate(id) && version(id) === 7)).toBe(true);
    // Time-ordered: in log order, they sort as they were made (the id index grows at its end).
    expect([...ids].sort()).toEqual(ids);
    await pipeline.run(machineDecider, 'machine-d1', register('d1'), ctx({ requestId: 'req-d1' }));
    const [derived] = await store.readStream('machine-d1');
    expect(version(derived.id)).toBe(5);
  });

  it('a folded stream kept in memory still sees what another writer appended since', async () => {
    await pipeline.run(machineDecider, 'machine-c1', register('c1'), ctx());
    expect((await pipeline.load(machineDecider, 'machine-c1')).revision).toBe(0);
    // Another process (another pipeline on the same store) assigns the machine.
    const other = new CommandPipeline(store, silentLogger, 20);
    await other.run(machineDecider, 'machine-c1', { type: 'AssignInstance', id: 'c1', instanceId: 'i-1', tenantId: 't1', purpose: 'TENANT', at }, ctx());
    await expect(
      pipeline.run(machineDecider, 'machine-c1', { type: 'AssignInstance', id: 'c1', instanceId: 'i-2', tenantId: 't2', purpose: 'TENANT', at }, ctx()),
    ).rejects.toBeInstanceOf(ConflictError);
    const loaded = await pipeline.load(machineDecider, 'machine-c1');
    expect(loaded.revision).toBe(1);
    expect(loaded.state.instance?.instanceId).toBe('i-1');
  });

  it('a requestId recorded by another writer is replayed, not appended again', async () => {
    await pipeline.run(machineDecider, 'machine-c2', register('c2'), ctx());
    const other = new CommandPipeline(store, silentLogger, 20);
    const label = { type: 'SetMachineLabels' as const, id: 'c2', labels: { rack: 'r1' }, at };
    const first = await other.run(machineDecider, 'machine-c2', label, ctx({ requestId: 'lbl-1' }));
    const again = await pipeline.run(machineDecider, 'machine-c2', label, ctx({ requestId: 'lbl-1' }));
    expect(again).toMatchObject({ replayed: true, position: first.position, events: first.events });
    expect(await store.readStream('machine-c2')).toHaveLength(2);
  });

  it('concurrent commands on one stream are decided in turn and appended together, each settled alone', async () => {
    await pipeline.run(machineDecider, 'machine-b1', register('b1'), ctx());
    let appends = 0;
    const append = store.append.bind(store);
    jest.spyOn(store, 'append').mockImplementation((...args) => (appends++, append(...args)));
    const label = (n: number): MachineCommand => ({ type: 'SetMachineLabels', id: 'b1', labels: { n: String(n) }, at });
    const assign = (i: string): MachineCommand => ({ type: 'AssignInstance', id: 'b1', instanceId: i, tenantId: 't', purpose: 'TENANT', at });
    const results = await Promise.allSettled([
      ...Array.from({ length: 20 }, (_, n) => pipeline.run(machineDecider, 'machine-b1', label(n), ctx({ requestId: `lbl-${n}` }))),
      pipeline.run(machineDecider, 'machine-b1', assign('i-1'), ctx()),
      pipeline.run(machineDecider, 'machine-b1', assign('i-2'), ctx()), // the machine is taken by then: refused alone
      pipeline.run(machineDecider, 'machine-b1', label(3), ctx({ requestId: 'lbl-3' })), // the same request again: replayed
    ]);
    expect(results.slice(0, 21).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(results[21]).toMatchObject({ status: 'rejected', reason: expect.any(ConflictError) });
    const again = (results[22] as PromiseFulfilledResult<Awaited<ReturnType<CommandPipeline['run']>>>).value;
    const first = (results[3] as PromiseFulfilledResult<Awaited<ReturnType<CommandPipeline['run']>>>).value;
    expect(again).toMatchObject({ replayed: true, events: first.events });
    const history = await store.readStream('machine-b1');
    expect(history.map((e) => e.type)).toEqual(['MachineRegistered', ...Array(20).fill('MachineLabelsChanged'), 'MachineAssigned']);
    expect(history.map((e) => e.revision)).toEqual(history.map((_, i) => i));
    expect(appends).toBeLessThan(22);
  });

  it('runUnlessRefused answers a domain refusal with null and appends nothing; other errors still throw', async () => {
    expect(await pipeline.runUnlessRefused(machineDecider, 'machine-u1', { type: 'SetMachineLabels', id: 'u1', labels: {}, at }, ctx())).toBeNull();
    await expect(store.readStream('machine-u1')).rejects.toThrow(/not found/);
    const broken = new CommandPipeline({ ...store, readStream: () => Promise.reject(new Error('disk on fire')) } as unknown as EventStore, silentLogger, 2);
    await expect(broken.runUnlessRefused(machineDecider, 'machine-u2', register('u2'), ctx())).rejects.toThrow('disk on fire');
  });

  it('a repeated requestId returns the first result and appends nothing', async () => {
    const first = await pipeline.run(machineDecider, 'machine-m2', register('m2'), ctx({ requestId: 'req-2' }));
    const again = await pipeline.run(machineDecider, 'machine-m2', { ...register('m2'), at: '2026-11-21T11:00:00.000Z' }, ctx({ requestId: 'req-2' }));
    expect(again.replayed).toBe(true);
    expect(again.events).toEqual(first.events);
    expect(again.position).toBe(first.position);
    expect(await store.readStream('machine-m2')).toHaveLength(1);
  });

  it('a requestId reused with other parameters is a conflict and appends nothing', async () => {
    await pipeline.run(machineDecider, 'machine-m3', register('m3'), ctx({ requestId: 'req-3' }));
    const other: MachineCommand = { type: 'SetMachineLabels', id: 'm3', labels: { a: 'b' }, at };
    await expect(pipeline.run(machineDecider, 'machine-m3', other, ctx({ requestId: 'req-3' }))).rejects.toBeInstanceOf(ConflictError);
    expect(await store.readStream('machine-m3')).toHaveLength(1);
  });

  it('a rejected command reaches the caller as its typed error and appends nothing', async () => {
    const head = await store.headPosition();
    const cmd: MachineCommand = { type: 'SetMachineLabels', id: 'ghost', labels: {}, at };
    await expect(pipeline.run(machineDecider, 'machine-ghost', cmd, ctx())).rejects.toBeInstanceOf(NotFoundError);
    expect(await store.headPosition()).toBe(head);
  });

  it('concurrent commands on one stream are serialised by retrying on the expected revision', async () => {
    await pipeline.run(machineDecider, 'machine-m4', register('m4'), ctx());
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        pipeline.run(machineDecider, 'machine-m4', { type: 'SetMachineLabels', id: 'm4', labels: { n: String(i) }, at }, ctx()),
      ),
    );
    const events = await store.readStream('machine-m4');
    expect(events).toHaveLength(11);
    expect(events.map((e) => e.revision)).toEqual([...Array(11).keys()]);
  });

  it('gives up after a bounded number of conflicts', async () => {
    let attempts = 0;
    const alwaysConflicting: EventStore = Object.assign(Object.create(store), {
      append: async () => {
        attempts += 1;
        throw new WrongExpectedRevisionError('machine-m5', 'no_stream', 0);
      },
    });
    const bounded = new CommandPipeline(alwaysConflicting, silentLogger, 3);
    await expect(bounded.run(machineDecider, 'machine-m5', register('m5'), ctx())).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    expect(attempts).toBe(4);
  });
});
