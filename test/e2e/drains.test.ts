import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { RecordedEvent } from '../../src/event-store/event-store.port';
import { collect, gql, wsClient } from '../support/api-client';
import { freePort, ServerProcess, startReadyServer, startServer, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

const ENV = { LOG_LEVEL: 'warn', DRAINS_MIGRATION_DELAY_MS: '10' };
const DRAIN = 'id node kind mode status totalVMs completedVMs failedVMs skippedVMs inFlight peakInFlight message startedAt completedAt undoes';
const VMS = 'vmStatus { vmid name status migrationType sourceNode targetNode error restarted }';

let seq = 0;
let nextVmid = 1000;

/** A little cluster per test: its nodes are put in maintenance afterwards, so no later test places VMs on them. */
class Cluster {
  readonly nodes: string[] = [];
  constructor(private readonly port: () => number) {}

  async node(memoryGiB = 256, cpuCores = 64): Promise<string> {
    const name = `hv${++seq}`;
    const r = await gql(this.port(), 'mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }', {
      i: { ids: [name], phase: 'READY', hypervisor: true, capacity: { cpuCores, memoryGiB } },
    });
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    this.nodes.push(name);
    return name;
  }

  async vm(node: string, tags: string[] = [], size = { cpuCores: 2, memoryGiB: 8 }, status = 'running'): Promise<number> {
    const vmid = ++nextVmid;
    const r = await gql(this.port(), 'mutation($i: CreateVmInput!) { createVm(input: $i) { vmid } }', { i: { vmid, name: `vm-${vmid}`, node, tags, status, ...size } });
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    return vmid;
  }

  async retire(): Promise<void> {
    for (const node of this.nodes.splice(0)) {
      await gql(this.port(), 'mutation($i: EnableNodeMaintenanceInput!) { enableNodeMaintenance(input: $i) { name } }', { i: { node, reason: 'test done' } });
    }
  }
}

async function startDrain(port: number, input: Record<string, unknown>) {
  return gql(port, `mutation($i: StartDrainInput!) { startDrain(input: $i) { ${DRAIN} ${VMS} } }`, { i: input });
}
async function drain(port: number, id: string) {
  return (await gql(port, `{ drain(id: "${id}") { ${DRAIN} ${VMS} } }`)).data!.drain;
}
async function finished(port: number, id: string, timeoutMs = 20_000) {
  await waitFor(async () => (await drain(port, id)).status !== 'IN_PROGRESS', timeoutMs, `drain ${id} to finish`);
  return drain(port, id);
}
async function vm(port: number, vmid: number) {
  return (await gql(port, `{ vm(vmid: ${vmid}) { vmid node status tags } }`)).data!.vm;
}
const byVmid = (d: { vmStatus: Array<{ vmid: number }> }) => Object.fromEntries(d.vmStatus.map((v) => [v.vmid, v])) as Record<number, any>;

/** The number of migrations in flight after every event of the drain's stream, as the log records them. */
function inFlightAtEveryMoment(events: RecordedEvent[]): number[] {
  const running = new Set<unknown>();
  return events.map((e) => {
    if (e.type === 'VmMigrationStarted') running.add(e.data.vmid);
    if (e.type === 'VmMigrationCompleted' || e.type === 'VmMigrationFailed') running.delete(e.data.vmid);
    return running.size;
  });
}

describe('drains and node maintenance', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  const data = () => join(dir.path, 'data');
  const cluster = new Cluster(() => port);
  const log = () => new SqliteEventStore(join(data(), 'events.db'));

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: data(), ...ENV }));
  });
  afterEach(() => cluster.retire());
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  // The tag table, every row in both modes, and allowOffline.
  it.each([
    ['SOFT', false, { 'always-on': 'ONLINE', 'maint-ok': 'SKIPPED', both: 'ONLINE', none: 'ONLINE' }],
    ['HARD', false, { 'always-on': 'ONLINE', 'maint-ok': 'OFFLINE', both: 'ONLINE', none: 'ONLINE' }],
    ['SOFT', true, { 'always-on': 'ONLINE', 'maint-ok': 'SKIPPED', both: 'ONLINE', none: 'OFFLINE' }],
    ['HARD', true, { 'always-on': 'ONLINE', 'maint-ok': 'OFFLINE', both: 'ONLINE', none: 'OFFLINE' }],
  ] as const)('%s drain (allowOffline %s) follows the tag table', async (mode, allowOffline, expected) => {
    const src = await cluster.node();
    const target = await cluster.node();
    const tags: Record<string, string[]> = { 'always-on': ['always-on'], 'maint-ok': ['maint-ok'], both: ['always-on', 'maint-ok'], none: [] };
    const ids: Record<string, number> = {};
    for (const [k, t] of Object.entries(tags)) ids[k] = await cluster.vm(src, t);
    const started = await startDrain(port, { node: src, drainMode: mode, allowOffline });
    expect(started.errors).toBeUndefined();
    expect(started.data!.startDrain).toMatchObject({ node: src, kind: 'DRAIN', mode, status: 'IN_PROGRESS', totalVMs: 4 });
    const done = await finished(port, started.data!.startDrain.id);
    expect(done.status).toBe('COMPLETED');
    const vms = byVmid(done);
    for (const [k, want] of Object.entries(expected)) {
      const v = vms[ids[k]];
      if (want === 'SKIPPED') {
        expect(v).toMatchObject({ status: 'SKIPPED', migrationType: null, error: expect.stringMatching(/maint-ok/) });
        expect((await vm(port, ids[k])).node).toBe(src);
      } else {
        expect(v).toMatchObject({ status: 'COMPLETED', migrationType: want, sourceNode: src, targetNode: target });
        expect((await vm(port, ids[k])).node).toBe(target);
      }
    }
    const skipped = Object.values(expected).filter((x) => x === 'SKIPPED').length;
    expect(done).toMatchObject({ completedVMs: 4 - skipped, skippedVMs: skipped, failedVMs: 0, message: `Completed: ${4 - skipped}/4 completed${skipped ? `, ${skipped} skipped` : ''}` });
  });

  it.each([
    [true, 3, 3],
    [false, 3, 1],
  ] as const)('parallel %s with maxConcurrent %s: never more than %s migrations in flight, at every moment', async (parallel, maxConcurrent, bound) => {
    const src = await cluster.node();
    await cluster.node(1024);
    const vmids: number[] = [];
    for (let i = 0; i < 9; i++) vmids.push(await cluster.vm(src, ['sim.migrate-ms=120']));
    const started = await startDrain(port, { node: src, parallel, maxConcurrent });
    const id = started.data!.startDrain.id as string;
    const done = await finished(port, id);
    expect(done).toMatchObject({ status: 'COMPLETED', completedVMs: 9 });
    const store = log();
    const events = await store.readStream(`drain-${id}`);
    store.close();
    const inFlight = inFlightAtEveryMoment(events);
    expect(Math.max(...inFlight)).toBe(bound);
    // And the counters every event carries agree with that count.
    expect(events.map((e) => (e.data.progress as { inFlight: number }).inFlight)).toEqual(inFlight);
    expect(done.peakInFlight).toBe(bound);
    // drainAt folds the same log back to any revision: at the start, at the busiest moment, at the end.
    const at = (r: number) => gql(port, 'query($id: ID!, $r: Int) { drainAt(id: $id, revision: $r) { status totalVMs completedVMs inFlight vms } }', { id, r });
    expect((await at(0)).data!.drainAt).toMatchObject({ status: 'IN_PROGRESS', totalVMs: 9, completedVMs: 0, inFlight: 0 });
    const busiest = inFlight.indexOf(bound);
    expect((await at(events[busiest].revision)).data!.drainAt.inFlight).toBe(bound);
    const last = (await at(events[events.length - 1].revision)).data!.drainAt;
    expect(last).toMatchObject({ status: 'COMPLETED', completedVMs: 9, inFlight: 0 });
    expect(last.vms.map((v: { status: string }) => v.status)).toEqual(Array(9).fill('COMPLETED'));
  });

  it('maxConcurrent outside 1..64 is bad input naming the field', async () => {
    const src = await cluster.node();
    for (const maxConcurrent of [0, 65]) {
      const r = await startDrain(port, { node: src, maxConcurrent });
      expect(r.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
      expect(r.errors?.[0].message).toMatch(/maxConcurrent/);
    }
    expect((await gql(port, `{ drains(filter: { node: "${src}" }) { id } }`)).data!.drains).toEqual([]);
  });

  it('targets the eligible node with the most free capacity, never one in maintenance or not allocatable', async () => {
    const src = await cluster.node();
    const small = await cluster.node(64);
    const big = await cluster.node(128);
    const maint = await cluster.node(1024);
    const sick = await cluster.node(1024);
    await gql(port, `mutation { enableNodeMaintenance(input: { node: "${maint}", reason: "bios" }) { name } }`);
    await gql(port, `mutation { addHealthOverride(input: { machineId: "${sick}", template: DEGRADED, message: "fans" }) { id } }`);
    const one = await cluster.vm(src);
    const done = await finished(port, (await startDrain(port, { node: src })).data!.startDrain.id);
    expect(byVmid(done)[one]).toMatchObject({ status: 'COMPLETED', targetNode: big });
    expect(small).not.toBe(big);
  });

  it('a VM with no target fails with "No suitable target node found" and the reason; the drain says so', async () => {
    const src = await cluster.node(512);
    await cluster.node(32);
    const fits = await cluster.vm(src, [], { cpuCores: 2, memoryGiB: 8 });
    const huge = await cluster.vm(src, [], { cpuCores: 4, memoryGiB: 200 });
    const done = await finished(port, (await startDrain(port, { node: src })).data!.startDrain.id);
    expect(done.status).toBe('FAILED');
    expect(byVmid(done)[fits].status).toBe('COMPLETED');
    expect(byVmid(done)[huge]).toMatchObject({ status: 'FAILED', error: 'No suitable target node found: no node has 4 cores and 200 GiB free' });
    expect(done.message).toBe(`Failed: 1/2 completed, 1 failed. VM ${huge}: No suitable target node found: no node has 4 cores and 200 GiB free`);
  });

  it('with every other node in maintenance, the reason says so', async () => {
    const src = await cluster.node();
    const other = await cluster.node();
    await gql(port, `mutation { enableNodeMaintenance(input: { node: "${other}", reason: "rack move" }) { name } }`);
    const v = await cluster.vm(src);
    const done = await finished(port, (await startDrain(port, { node: src })).data!.startDrain.id);
    expect(byVmid(done)[v].error).toBe('No suitable target node found: all other nodes are in maintenance');
  });

  it('a pinned targetNode that breaks the target rules refuses the drain at once (FAILED_PRECONDITION)', async () => {
    const src = await cluster.node();
    const maint = await cluster.node();
    const ok = await cluster.node(64);
    await cluster.node(1024);
    await gql(port, `mutation { enableNodeMaintenance(input: { node: "${maint}", reason: "psu" }) { name } }`);
    const v = await cluster.vm(src);
    for (const targetNode of [maint, src]) {
      const r = await startDrain(port, { node: src, targetNode });
      expect(r.errors?.[0].extensions?.code).toBe('FAILED_PRECONDITION');
    }
    const done = await finished(port, (await startDrain(port, { node: src, targetNode: ok })).data!.startDrain.id);
    expect(byVmid(done)[v]).toMatchObject({ status: 'COMPLETED', targetNode: ok });
  });

  it('an always-on VM found stopped after its migration is started, and both facts are events', async () => {
    const src = await cluster.node();
    await cluster.node();
    const v = await cluster.vm(src, ['always-on', 'sim.stopped-after-migrate']);
    const done = await finished(port, (await startDrain(port, { node: src, drainMode: 'HARD' })).data!.startDrain.id);
    expect(byVmid(done)[v]).toMatchObject({ status: 'COMPLETED', restarted: true });
    expect((await vm(port, v)).status).toBe('running');
    const store = log();
    const types = (await store.readStream(`vm-${v}`)).map((e) => e.type);
    store.close();
    expect(types).toEqual(['VmCreated', 'VmMigrated', 'VmFoundStopped', 'VmStarted']);
  });

  it('one active drain per node: a second startDrain is a CONFLICT naming it; a requestId makes startDrain idempotent', async () => {
    const src = await cluster.node();
    await cluster.node();
    for (let i = 0; i < 3; i++) await cluster.vm(src, ['sim.migrate-ms=300']);
    const first = await startDrain(port, { node: src, requestId: 'drain-once', parallel: false });
    const id = first.data!.startDrain.id as string;
    const again = await startDrain(port, { node: src, requestId: 'drain-once', parallel: false });
    expect(again.data!.startDrain.id).toBe(id);
    const second = await startDrain(port, { node: src });
    expect(second.errors?.[0].extensions?.code).toBe('CONFLICT');
    expect(second.errors?.[0].message).toContain(id);
    await finished(port, id);
    expect((await gql(port, `{ drains(filter: { node: "${src}" }) { id } }`)).data!.drains).toEqual([{ id }]);
  });

  it('cancelDrain starts no new migrations, lets running ones finish, and ends CANCELED', async () => {
    const src = await cluster.node();
    await cluster.node(1024);
    for (let i = 0; i < 8; i++) await cluster.vm(src, ['sim.migrate-ms=250']);
    const id = (await startDrain(port, { node: src, maxConcurrent: 2 })).data!.startDrain.id as string;
    await waitFor(async () => (await drain(port, id)).inFlight === 2, 5_000, 'two migrations in flight');
    const canceled = await gql(port, `mutation { cancelDrain(id: "${id}") { status message } }`);
    expect(canceled.data!.cancelDrain.message).toMatch(/canceling/);
    const done = await finished(port, id);
    expect(done.status).toBe('CANCELED');
    expect(done.completedVMs).toBe(2); // the two running finished
    expect(done.vmStatus.filter((v: { status: string }) => v.status === 'PENDING')).toHaveLength(6);
    expect(done.message).toMatch(/^Canceled: 2\/8 completed\. canceled by .*; 6 VMs not started$/);
    const again = await gql(port, `mutation { cancelDrain(id: "${id}") { status } }`);
    expect(again.errors?.[0].extensions?.code).toBe('FAILED_PRECONDITION');
  });

  it('a drain past its deadline starts nothing more and ends FAILED with the reason', async () => {
    const src = await cluster.node();
    await cluster.node(1024);
    for (let i = 0; i < 6; i++) await cluster.vm(src, ['sim.migrate-ms=300']);
    const deadline = new Date(Date.now() + 700).toISOString();
    const id = (await startDrain(port, { node: src, parallel: false, deadline })).data!.startDrain.id as string;
    const done = await finished(port, id);
    expect(done.status).toBe('FAILED');
    expect(done.completedVMs).toBeGreaterThanOrEqual(1);
    expect(done.completedVMs).toBeLessThan(6);
    expect(done.message).toMatch(new RegExp(`deadline ${deadline} passed; \\d VMs? not started`));
    const past = await startDrain(port, { node: src, deadline: new Date(Date.now() - 1000).toISOString() });
    expect(past.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringMatching(/deadline/) });
  });

  it('maintenance with drain, then undrain: moves back what the drain moved, skipping deleted VMs and VMs moved since', async () => {
    const home = await cluster.node(512);
    const away = await cluster.node(512);
    const elsewhere = await cluster.node(64);
    const gone = await cluster.vm(home);
    const movedOn = await cluster.vm(home);
    const comesBack = await cluster.vm(home, ['maint-ok']);
    const stays = await gql(port, `mutation { enableNodeMaintenance(input: { node: "${home}", reason: "kernel update", drain: true, drainMode: HARD }) { name inMaintenance reason maintenanceStarted lastDrainId drainStatus } }`);
    const node = stays.data!.enableNodeMaintenance;
    expect(node).toMatchObject({ name: home, inMaintenance: true, reason: 'kernel update', drainStatus: 'IN_PROGRESS' });
    const drained = await finished(port, node.lastDrainId);
    expect(drained).toMatchObject({ status: 'COMPLETED', mode: 'HARD', completedVMs: 3 });
    expect(byVmid(drained)[comesBack]).toMatchObject({ migrationType: 'OFFLINE', targetNode: away });
    const after = (await gql(port, `{ node(name: "${home}") { vmsOnNode drainStatus inMaintenance } }`)).data!.node;
    expect(after).toEqual({ vmsOnNode: 0, drainStatus: 'COMPLETED', inMaintenance: true });
    // The same, as the machine and the node list show it.
    const asMachine = (await gql(port, `{ machine(id: "${home}") { hypervisor effectiveState allocatable maintenance { inMaintenance reason lastDrain drainStatus } vms { vmid } } }`)).data!.machine;
    expect(asMachine).toEqual({ hypervisor: true, effectiveState: 'MAINTENANCE', allocatable: false, maintenance: { inMaintenance: true, reason: 'kernel update', lastDrain: drained.id, drainStatus: 'COMPLETED' }, vms: [] });
    const listed = (await gql(port, '{ nodes { name inMaintenance vmsOnNode used { memoryGiB } } }')).data!.nodes;
    expect(listed.find((n: { name: string }) => n.name === away)).toMatchObject({ inMaintenance: false, vmsOnNode: 3, used: { memoryGiB: 24 } });

    // Meanwhile: one VM is deleted, another is moved on by a soft drain of `away` pinned to `elsewhere` (the maint-ok one stays).
    await gql(port, `mutation { deleteVm(vmid: ${gone}) }`);
    const onward = await finished(port, (await startDrain(port, { node: away, targetNode: elsewhere })).data!.startDrain.id);
    expect(byVmid(onward)[movedOn]).toMatchObject({ status: 'COMPLETED', targetNode: elsewhere });
    expect(byVmid(onward)[comesBack].status).toBe('SKIPPED');

    const ended = await gql(port, `mutation { disableNodeMaintenance(input: { node: "${home}", undrain: true }) { inMaintenance maintenanceEnded lastDrainId } }`);
    expect(ended.errors).toBeUndefined();
    expect(ended.data!.disableNodeMaintenance.inMaintenance).toBe(false);
    expect(ended.data!.disableNodeMaintenance.maintenanceEnded).not.toBeNull();
    const undrain = await finished(port, ended.data!.disableNodeMaintenance.lastDrainId);
    expect(undrain).toMatchObject({ kind: 'UNDRAIN', status: 'COMPLETED', undoes: drained.id, totalVMs: 3, completedVMs: 1, skippedVMs: 2 });
    const u = byVmid(undrain);
    expect(u[gone]).toMatchObject({ status: 'SKIPPED', error: expect.stringMatching(/deleted/) });
    expect(u[movedOn]).toMatchObject({ status: 'SKIPPED', error: expect.stringMatching(new RegExp(`moved by someone else .*now on ${elsewhere}`)) });
    expect(u[comesBack]).toMatchObject({ status: 'COMPLETED', sourceNode: away, targetNode: home, migrationType: 'OFFLINE' });
    expect((await vm(port, comesBack)).node).toBe(home);
    const history = (await gql(port, `{ drains(filter: { node: "${home}" }) { kind status } }`)).data!.drains;
    expect(history).toEqual([
      { kind: 'UNDRAIN', status: 'COMPLETED' },
      { kind: 'DRAIN', status: 'COMPLETED' },
    ]);
  });

  it('undrainNode without a drain to undo is FAILED_PRECONDITION', async () => {
    const src = await cluster.node();
    const r = await gql(port, `mutation { undrainNode(node: "${src}") { id } }`);
    expect(r.errors?.[0].extensions?.code).toBe('FAILED_PRECONDITION');
  });

  it('vms(filter: { tags }) answers where every always-on VM is and whether it runs', async () => {
    const a = await cluster.node();
    const always = await cluster.vm(a, ['always-on', 'db']);
    await cluster.vm(a, ['db']);
    const stopped = await cluster.vm(a, ['always-on'], undefined, 'stopped');
    const r = await gql(port, `{ vms(filter: { tags: ["always-on"], node: "${a}" }) { vmid node status tags } }`);
    expect(r.data!.vms).toEqual([
      { vmid: always, node: a, status: 'running', tags: ['always-on', 'db'] },
      { vmid: stopped, node: a, status: 'stopped', tags: ['always-on'] },
    ]);
    const retagged = await gql(port, `mutation { setVmTags(vmid: ${always}, tags: ["maint-ok", "maint-ok"]) { tags } }`);
    expect(retagged.data!.setVmTags.tags).toEqual(['maint-ok']);
    const bad = await gql(port, `mutation { setVmTags(vmid: ${always}, tags: ["no spaces"]) { tags } }`);
    expect(bad.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringMatching(/tags/) });
  });

  it('drainProgress pushes the whole progress of a drain: a late subscriber gets the current state first', async () => {
    const src = await cluster.node();
    await cluster.node(1024);
    for (let i = 0; i < 5; i++) await cluster.vm(src, ['sim.migrate-ms=150']);
    await cluster.vm(src, ['maint-ok']);
    const id = (await startDrain(port, { node: src, maxConcurrent: 2 })).data!.startDrain.id as string;
    await waitFor(async () => (await drain(port, id)).completedVMs >= 1, 5_000, 'one VM done');
    const client = wsClient(port);
    const sub = collect(client, `subscription($id: ID) { drainProgress(drainId: $id) { event drain { status totalVMs completedVMs skippedVMs inFlight message } vm { vmid status } } }`, { id });
    const byNode = collect(client, `subscription($n: ID) { drainProgress(node: $n) { event drain { id status } } }`, { n: src });
    await waitFor(() => sub.messages.some((m) => m.drainProgress.drain.status === 'COMPLETED'), 15_000, 'the drain to complete on the subscription');
    const msgs = sub.messages.map((m) => m.drainProgress);
    expect(msgs[0].event).toBe('Snapshot');
    expect(msgs[0].drain.completedVMs).toBeGreaterThanOrEqual(1);
    // After the snapshot: every later VM change, once, with counters that only grow.
    const completedLive = msgs.filter((m) => m.event === 'VmMigrationCompleted').map((m) => m.vm.vmid);
    expect(new Set(completedLive).size).toBe(completedLive.length);
    expect(msgs[0].drain.completedVMs + completedLive.length).toBe(5);
    const counts = msgs.map((m) => m.drain.completedVMs);
    expect([...counts].sort((a, b) => a - b)).toEqual(counts);
    expect(msgs[msgs.length - 1]).toMatchObject({ event: 'DrainFinished', drain: { status: 'COMPLETED', completedVMs: 5, skippedVMs: 1, message: 'Completed: 5/6 completed, 1 skipped' } });
    expect(byNode.messages[0].drainProgress).toMatchObject({ event: 'Snapshot', drain: { id } });
    // The two subscriptions hear the same commit each on its own path: no order between them.
    await waitFor(() => byNode.messages.some((m) => m.drainProgress.drain.status === 'COMPLETED'), 5_000, 'the drain to complete on the by-node subscription');
    sub.unsubscribe();
    byNode.unsubscribe();
    await client.dispose();
    expect(sub.errors).toEqual([]);
  });
});

describe('a drain survives a restart', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('kill the app mid-drain, start it again: the drain continues from the log, no VM migrated twice', async () => {
    const data = join(dir.path, 'data');
    const port = await freePort();
    let server = startServer({ DATA_DIR: data, ...ENV }, port);
    await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'readiness');
    const c = new Cluster(() => port);
    const src = await c.node();
    await c.node(1024);
    const vmids: number[] = [];
    for (let i = 0; i < 8; i++) vmids.push(await c.vm(src, ['sim.migrate-ms=250']));
    const id = (await startDrain(port, { node: src, maxConcurrent: 2 })).data!.startDrain.id as string;
    await waitFor(async () => (await drain(port, id)).completedVMs >= 2, 10_000, 'two VMs migrated');
    server.child.kill('SIGKILL');
    await server.exited;

    server = startServer({ DATA_DIR: data, ...ENV }, port);
    try {
      await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'readiness after restart');
      const done = await finished(port, id);
      expect(done).toMatchObject({ status: 'COMPLETED', completedVMs: 8, failedVMs: 0 });
      const store = new SqliteEventStore(join(data, 'events.db'));
      for (const v of vmids) {
        const moves = (await store.readStream(`vm-${v}`)).filter((e) => e.type === 'VmMigrated');
        expect(moves).toHaveLength(1);
      }
      const drainEvents = await store.readStream(`drain-${id}`);
      for (const v of vmids) expect(drainEvents.filter((e) => e.type === 'VmMigrationCompleted' && e.data.vmid === v)).toHaveLength(1);
      expect(Math.max(...inFlightAtEveryMoment(drainEvents))).toBeLessThanOrEqual(2);
      const node = (await store.readStream(`machine-${src}`)).filter((e) => e.type.startsWith('NodeDrain')).map((e) => e.type);
      expect(node).toEqual(['NodeDrainBegan', 'NodeDrainEnded']);
      store.close();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
