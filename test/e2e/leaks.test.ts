import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { gql, gqlResponse, Key } from '../support/api-client';
import { ServerProcess, startReadyServer } from '../support/server-process';
import { tempDir } from '../support/temp';

/** Issue 31.7: what the API says to one caller tells it nothing it may not see. */
describe('smaller leaks', () => {
  const dir = tempDir();
  const data = () => join(dir.path, 'data');
  let server: ServerProcess;
  let port: number;
  let tenant: string;
  let otherTenant: string;
  let repair: string;
  let otherRepair: string;

  const createKey = async (role: string, tenantId?: string, name = `${role}-${tenantId ?? 'x'}`) => {
    const r = await gql(port, 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }', { i: { role, tenantId, name } });
    if (!r.data) throw new Error(JSON.stringify(r.errors));
    return r.data.createApiKey.key as string;
  };
  const register = async (id: string) => {
    const r = await gql(port, `mutation { registerMachines(input: { ids: ["${id}"], phase: READY }) { id } }`);
    if (!r.data) throw new Error(JSON.stringify(r.errors));
  };
  const allocate = (key: Key, requestId: string, machineId: string) =>
    gql(port, 'mutation($i: AllocateInstanceInput!) { allocateInstance(input: $i) { id machineId } }', { i: { requestId, machineId } }, key);
  const head = async () => {
    const store = new SqliteEventStore(join(data(), 'events.db'));
    try {
      return await store.headPosition();
    } finally {
      await store.close();
    }
  };

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: data(), LOG_LEVEL: 'info' }));
    tenant = await createKey('TENANT', 't1');
    otherTenant = await createKey('TENANT', 't2');
    repair = await createKey('REPAIR_TENANT', undefined, 'repair-a');
    otherRepair = await createKey('REPAIR_TENANT', undefined, 'repair-b');
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  describe('refusals tell a tenant nothing of other tenants', () => {
    it("a machine another tenant holds is NOT_FOUND, word for word as one that does not exist, without the other's instance", async () => {
      await register('lk-held');
      const theirs = (await allocate(otherTenant, 'held', 'lk-held')).data!.allocateInstance;
      const none = await allocate(tenant, 'none', 'lk-no-such');
      expect(none.errors![0].extensions).toMatchObject({ code: 'NOT_FOUND' });
      const before = await head();
      for (const [mutation, type] of [['allocateInstance', 'AllocateInstanceInput'], ['createInstance', 'CreateInstanceInput']]) {
        const r = await gqlResponse(port, `mutation($i: ${type}!) { ${mutation}(input: $i) { id } }`, { i: { requestId: `take-${mutation}`, machineId: 'lk-held' } }, tenant);
        const e = r.body.errors![0];
        expect(e.extensions).toEqual({ ...none.errors![0].extensions, machineId: 'lk-held' });
        expect(e.message).toBe(none.errors![0].message.replace('lk-no-such', 'lk-held'));
        expect(JSON.stringify(r.body)).not.toContain(theirs.id);
      }
      expect(await head()).toBe(before);
    });

    it("a machine holding the caller's own instance is FAILED_PRECONDITION naming it", async () => {
      await register('lk-mine');
      const mine = (await allocate(tenant, 'mine', 'lk-mine')).data!.allocateInstance;
      const r = await allocate(tenant, 'mine-again', 'lk-mine');
      expect(r.errors![0].extensions).toMatchObject({ code: 'FAILED_PRECONDITION', machineId: 'lk-mine' });
      expect(r.errors![0].message).toContain(mine.id);
    });

    it("a repair tenant claiming a machine another repair tenant holds is FAILED_PRECONDITION, without the other's instance", async () => {
      await register('lk-repair');
      await gql(port, 'mutation { addHealthOverride(input: { machineId: "lk-repair", template: REQUEST_REPAIR, message: "fix" }) { id } }');
      const claimed = (await gql(port, 'mutation { claimMachineForRepair(input: { machineId: "lk-repair" }) { id } }', undefined, otherRepair)).data!.claimMachineForRepair;
      const r = await gql(port, 'mutation { claimMachineForRepair(input: { machineId: "lk-repair" }) { id } }', undefined, repair);
      expect(r.errors![0].extensions).toMatchObject({ code: 'FAILED_PRECONDITION', machineId: 'lk-repair' });
      expect(r.errors![0].message).toBe('machine lk-repair is claimed already');
      expect(JSON.stringify(r)).not.toContain(claimed.id);
    });
  });
});
