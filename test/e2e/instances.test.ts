import { join } from 'node:path';
import { SEAL_STREAM } from '../../src/event-store/log-seals';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { collect, gql, wsClient } from '../support/api-client';
import { ServerProcess, startReadyServer } from '../support/server-process';
import { tempDir } from '../support/temp';

const INSTANCE = 'id tenantId machineId status provisioningStatus issue { category summary details } releasedAt';

describe('instances and tenant isolation', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  let acme: string;
  let globex: string;
  const data = () => join(dir.path, 'data');

  const key = async (tenantId: string) =>
    (await gql(port, 'mutation($t: String) { createApiKey(input: { role: TENANT, tenantId: $t, name: "tenant" }) { key } }', { t: tenantId })).data!.createApiKey.key as string;
  const register = (ids: string[], phase = 'READY') => gql(port, 'mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }', { i: { ids, phase } });
  const allocate = (tenantKey: string, requestId: string, machineId?: string) =>
    gql(port, `mutation($i: AllocateInstanceInput!) { allocateInstance(input: $i) { ${INSTANCE} } }`, { i: { requestId, machineId } }, tenantKey);
  const release = (k: string, id: string, issue?: Record<string, unknown>) =>
    gql(port, `mutation($i: ReleaseInstanceInput!) { releaseInstance(input: $i) { ${INSTANCE} } }`, { i: { id, issue } }, k);

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: data(), LOG_LEVEL: 'warn', OPERATIONS_STAGE_DELAY_MS: '5' }));
    acme = await key('acme');
    globex = await key('globex');
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('a tenant gets an instance on an allocatable machine, and the same request again returns it', async () => {
    await register(['i-1']);
    const a = await allocate(acme, 'req-1', 'i-1');
    expect(a.data!.allocateInstance).toMatchObject({ tenantId: 'acme', machineId: 'i-1', status: 'READY', provisioningStatus: 'READY', issue: null });
    const again = await allocate(acme, 'req-1', 'i-1');
    expect(again.data!.allocateInstance.id).toBe(a.data!.allocateInstance.id);
    const m = (await gql(port, '{ machine(id: "i-1") { allocatable instance } }')).data!.machine;
    expect(m).toEqual({ allocatable: false, instance: a.data!.allocateInstance.id });
  });

  it('concurrent allocations never get the same machine', async () => {
    await register(['c-1', 'c-2', 'c-3']);
    const free = (await gql(port, '{ machines(filter: { allocatable: true }) { totalCount } }')).data!.machines.totalCount;
    const results = await Promise.all(Array.from({ length: free + 3 }, (_, i) => allocate(i % 2 ? acme : globex, `race-${i}`)));
    const won = results.filter((r) => r.data?.allocateInstance).map((r) => r.data!.allocateInstance.machineId);
    expect(won).toHaveLength(free);
    expect(new Set(won).size).toBe(free);
    for (const r of results.filter((x) => x.errors)) expect(r.errors![0].extensions!.code).toBe('FAILED_PRECONDITION');
    // Give the machines back for the next tests.
    for (const r of results.filter((x) => x.data?.allocateInstance)) {
      const inst = r.data!.allocateInstance;
      await release(inst.tenantId === 'acme' ? acme : globex, inst.id);
    }
  });

  it('a machine that is not allocatable is refused by name', async () => {
    await register(['nb-1'], 'FACTORY_READY');
    const r = await allocate(acme, 'nb', 'nb-1');
    expect(r.errors![0].extensions!.code).toBe('FAILED_PRECONDITION');
    expect(r.errors![0].message).toMatch(/machine nb-1 is not allocatable: phase is FACTORY_READY/);
  });

  it('release without an issue returns the machine to the pool; releasing again appends nothing, even with an issue', async () => {
    await register(['r-1']);
    const inst = (await allocate(acme, 'rel-1', 'r-1')).data!.allocateInstance;
    const first = await release(acme, inst.id);
    expect(first.data!.releaseInstance).toMatchObject({ status: 'RELEASED', issue: null });
    expect((await gql(port, '{ machine(id: "r-1") { allocatable instance } }')).data!.machine).toEqual({ allocatable: true, instance: null });
    const store = new SqliteEventStore(join(data(), 'events.db'));
    const before = await store.headPosition();
    const again = await release(acme, inst.id, { category: 'HARDWARE', summary: 'late report' });
    expect(again.data!.releaseInstance).toEqual(first.data!.releaseInstance);
    // Nothing but, perhaps, a seal of the log (written in the background) after it.
    expect((await store.readAll({ from: before })).filter((e) => e.stream !== SEAL_STREAM)).toEqual([]);
    await store.close();
  });

  it('an issue report is validated, naming the field', async () => {
    await register(['v-1']);
    const inst = (await allocate(acme, 'val-1', 'v-1')).data!.allocateInstance;
    const noSummary = await release(acme, inst.id, { category: 'HARDWARE', summary: '' });
    expect(noSummary.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'issue.summary' });
    const badCategory = await release(acme, inst.id, { category: 'COSMIC_RAYS', summary: 'x' });
    expect(badCategory.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
    const ok = await release(acme, inst.id, { category: 'NETWORK', summary: 'packet loss', details: 'eth0 drops 3%' });
    expect(ok.data!.releaseInstance.issue).toEqual({ category: 'NETWORK', summary: 'packet loss', details: 'eth0 drops 3%' });
  });

  it("tenant isolation both ways: each sees its own instance and machine, and the other's is NOT_FOUND everywhere", async () => {
    await register(['iso-a', 'iso-g']);
    const a = (await allocate(acme, 'iso', 'iso-a')).data!.allocateInstance;
    const g = (await allocate(globex, 'iso', 'iso-g')).data!.allocateInstance;
    for (const [mine, theirs, k] of [[a, g, acme], [g, a, globex]] as const) {
      expect((await gql(port, `{ instance(id: "${mine.id}") { id } }`, undefined, k)).data!.instance.id).toBe(mine.id);
      expect((await gql(port, `{ instance(id: "${theirs.id}") { id } }`, undefined, k)).errors![0].extensions!.code).toBe('NOT_FOUND');
      const list = (await gql(port, '{ instances { id tenantId } }', undefined, k)).data!.instances;
      expect(list.every((i: { tenantId: string }) => i.tenantId === mine.tenantId)).toBe(true);
      expect(list.map((i: { id: string }) => i.id)).toContain(mine.id);
      expect((await gql(port, `{ instances(filter: { tenantId: "${theirs.tenantId}" }) { id } }`, undefined, k)).data!.instances).toEqual([]);
      expect((await gql(port, `{ machine(id: "${mine.machineId}") { id } }`, undefined, k)).data!.machine.id).toBe(mine.machineId);
      expect((await gql(port, `{ machine(id: "${theirs.machineId}") { id } }`, undefined, k)).errors![0].extensions!.code).toBe('NOT_FOUND');
      const machines = (await gql(port, '{ machines { nodes { id } } }', undefined, k)).data!.machines.nodes.map((m: { id: string }) => m.id);
      expect(machines).toContain(mine.machineId);
      expect(machines).not.toContain(theirs.machineId);
      const stolen = await release(k, theirs.id);
      expect(stolen.errors![0].extensions!.code).toBe('NOT_FOUND');
    }
    // Subscriptions: each tenant hears about its own machine only.
    const acmeWs = wsClient(port, acme);
    const ownSub = collect(acmeWs, `subscription { machineChanged(id: "iso-a") { id labels } }`);
    const otherSub = collect(acmeWs, `subscription { machineChanged(id: "iso-g") { id labels } }`);
    await new Promise((r) => setTimeout(r, 300));
    await gql(port, 'mutation { setMachineLabels(input: { machineId: "iso-a", labels: { x: "1" } }) { id } }');
    await gql(port, 'mutation { setMachineLabels(input: { machineId: "iso-g", labels: { x: "1" } }) { id } }');
    await ownSub.next(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(otherSub.messages).toEqual([]);
    ownSub.unsubscribe();
    otherSub.unsubscribe();
    await acmeWs.dispose();
  });
});
