import fc from 'fast-check';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { gql, gqlResponse, Key } from '../support/api-client';
import { ServerProcess, startReadyServer, TEST_ADMIN_KEY } from '../support/server-process';
import { tempDir } from '../support/temp';

/** A JSON object with an own `__proto__` key, as a client's JSON body carries it. */
const ownProto = (value: unknown) => JSON.parse(`{"__proto__": ${JSON.stringify(value)}}`) as Record<string, unknown>;

/**
 * Issue 31.3 and 31.7: what a client sends as labels, or as a label filter, is plain data, never a
 * query; a label map is bounded; a repair tenant sets the repair labels only.
 */
describe('labels and label filters from clients', () => {
  const dir = tempDir();
  const data = () => join(dir.path, 'data');
  let server: ServerProcess;
  let port: number;
  let tenant: string;
  let operator: string;
  let repair: string;

  const createKey = async (role: string, tenantId?: string) => {
    const r = await gql(port, 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }', { i: { role, tenantId, name: `${role}-${tenantId ?? 'x'}` } });
    if (!r.data) throw new Error(JSON.stringify(r.errors));
    return r.data.createApiKey.key as string;
  };
  const machinesWith = (labels: unknown, key: Key) =>
    gqlResponse(port, 'query($f: MachineFilter) { machines(filter: $f) { totalCount nodes { id } } }', { f: { labels } }, key);
  const head = async () => {
    const store = new SqliteEventStore(join(data(), 'events.db'));
    try {
      return await store.headPosition();
    } finally {
      await store.close();
    }
  };

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: data(), LOG_LEVEL: 'warn' }));
    tenant = await createKey('TENANT', 't1');
    operator = await createKey('OPERATOR');
    repair = await createKey('REPAIR_TENANT');
    // The tenant's machine, with a long label: what an exponential regex would have to chew on.
    const registered = await gql(port, 'mutation { registerMachines(input: { ids: ["in-1"], phase: READY, labels: { note: "aaaaaaaaaaaaaaaaaaaaaaaaaaaa", rack: "r1" } }) { id } }');
    expect(registered.errors).toBeUndefined();
    const allocated = await gql(port, 'mutation { allocateInstance(input: { machineId: "in-1", requestId: "in-1" }) { machineId } }', undefined, tenant);
    expect(allocated.data!.allocateInstance.machineId).toBe('in-1');
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  describe('filters and keys are plain values (31.3)', () => {
    const refused: Array<[string, unknown, string]> = [
      ['an exponential $regex', { note: { $regex: '^(.|.)*X$' } }, 'filter.labels.note'],
      ['a bad regex', { note: { $regex: '(' } }, 'filter.labels.note'],
      ['$where', { $where: 'function () { while (true) {} }' }, 'filter.labels.$where'],
      ['$expr', { $expr: { $eq: [1, 1] } }, 'filter.labels.$expr'],
      ['an unknown operator', { $foo: 'x' }, 'filter.labels.$foo'],
      ['an operator inside a value', { note: { $gt: '' } }, 'filter.labels.note'],
      ['an object value', { note: { nested: 'x' } }, 'filter.labels.note'],
      ['a list value', { note: ['a'] }, 'filter.labels.note'],
      ['a number value', { note: 1 }, 'filter.labels.note'],
      ['a null value', { note: null }, 'filter.labels.note'],
      ['a dotted key (read as a path)', { 'note.length': 'x' }, 'filter.labels.note.length'],
      ['__proto__', ownProto('x'), 'filter.labels.__proto__'],
      ['constructor', { constructor: 'x' }, 'filter.labels.constructor'],
      ['prototype', { prototype: 'x' }, 'filter.labels.prototype'],
    ];

    it.each(refused)('a label filter with %s is BAD_USER_INPUT naming the field, answered at once', async (_what, labels, field) => {
      const started = Date.now();
      const { status, body } = await machinesWith(labels, tenant);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(status).toBeLessThan(500);
      expect(body.data ?? null).toBeNull();
      expect(body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    });

    it('a label filter written in the query itself is held to the same rule', async () => {
      const r = await gql(port, '{ machines(filter: { labels: { note: { regex: "^(.|.)*X$" } } }) { totalCount } }', undefined, tenant);
      expect(r.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.labels.note' });
    });

    it('a label filter of plain strings still finds what it names, for tenants and operators', async () => {
      expect((await machinesWith({ rack: 'r1' }, tenant)).body.data!.machines).toEqual({ totalCount: 1, nodes: [{ id: 'in-1' }] });
      expect((await machinesWith({ rack: 'r2' }, tenant)).body.data!.machines.totalCount).toBe(0);
      expect((await machinesWith({ rack: 'r1', note: 'a'.repeat(28) }, operator)).body.data!.machines.nodes).toEqual([{ id: 'in-1' }]);
      expect((await machinesWith({}, tenant)).body.data!.machines.totalCount).toBe(1);
    });

    it('fuzzed label filters are answered, or refused as bad input naming the field; never INTERNAL', async () => {
      const key = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('$where', '$expr', '$regex', '$foo', '$or', 'a.b', 'constructor', 'prototype', 'rack', 'note'));
      const value = fc.oneof(fc.string(), fc.jsonValue(), fc.record({ $regex: fc.string() }), fc.record({ $where: fc.string() }), fc.record({ $ne: fc.string() }));
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.dictionary(key, value, { maxKeys: 4 }), fc.jsonValue()), async (labels) => {
          const { status, body } = await machinesWith(labels, tenant);
          expect(status).toBeLessThan(500);
          for (const e of body.errors ?? []) expect(e.extensions?.code).not.toBe('INTERNAL');
          const e = body.errors?.[0];
          if (e?.extensions?.code === 'BAD_USER_INPUT') expect(typeof e.extensions.field === 'string' || /\$f/.test(e.message)).toBe(true);
        }),
        { numRuns: 100 },
      );
    });

    it('a label key that is a prototype name is BAD_USER_INPUT naming it, wherever labels are set', async () => {
      for (const labels of [ownProto('x'), { constructor: 'x' }, { prototype: 'x' }]) {
        const field = `labels.${Object.keys(labels)[0]}`;
        const set = await gql(port, 'mutation($i: SetMachineLabelsInput!) { setMachineLabels(input: $i) { id } }', { i: { machineId: 'in-1', labels } });
        expect(set.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
        const registered = await gql(port, 'mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }', { i: { ids: ['in-proto'], labels } });
        expect(registered.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      }
    });
  });

  describe('a label map is bounded, and a repair tenant sets repair labels only (31.7)', () => {
    const many = (n: number, value = 'v', prefix = 'k') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, value]));
    const setMachine = (labels: unknown) => gql(port, 'mutation($i: SetMachineLabelsInput!) { setMachineLabels(input: $i) { labels } }', { i: { machineId: 'in-1', labels } });
    const setInstance = (id: string, labels: unknown, key: Key = TEST_ADMIN_KEY) =>
      gql(port, 'mutation($i: SetInstanceLabelsInput!) { setInstanceLabels(input: $i) { labels } }', { i: { id, labels } }, key);
    const registerWith = (id: string, labels: unknown) => gql(port, 'mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }', { i: { ids: [id], labels } });
    let repairInstance: string;

    beforeAll(async () => {
      await registerWith('in-repair', {});
      await gql(port, 'mutation { addHealthOverride(input: { machineId: "in-repair", template: REQUEST_REPAIR, message: "fix" }) { id } }');
      repairInstance = (await gql(port, 'mutation { claimMachineForRepair(input: { machineId: "in-repair" }) { id } }', undefined, repair)).data!.claimMachineForRepair.id;
    });

    it('too many labels, or too many bytes of them, is BAD_USER_INPUT naming labels, for every mutation that sets them, and appends nothing', async () => {
      const before = await head();
      const tooMany = many(65);
      const tooBig = many(64, 'x'.repeat(256)); // 64 values of 256 characters: 16 KiB of values alone
      for (const labels of [tooMany, tooBig]) {
        for (const r of [await registerWith('in-big', labels), await setMachine(labels), await setInstance(repairInstance, labels)]) {
          expect(r.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'labels' });
        }
      }
      expect(await head()).toBe(before);
      expect((await gql(port, '{ machine(id: "in-big") { id } }')).errors![0].extensions!.code).toBe('NOT_FOUND');
      // At the limit is fine.
      expect((await setMachine(many(64))).errors).toBeUndefined();
    });

    it('the bound is on the map an instance ends up with: labels set a few at a time add up', async () => {
      expect((await setInstance(repairInstance, many(40))).errors).toBeUndefined();
      const before = await head();
      const more = await setInstance(repairInstance, many(30, 'v', 'more'));
      expect(more.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'labels' });
      expect(await head()).toBe(before);
    });

    it('a repair tenant sets repair_status, repair_details and repair_eta, and nothing else; an operator may set any', async () => {
      const ok = await setInstance(repairInstance, { repair_status: 'InProgress', repair_details: 'reseating DIMM 3', repair_eta: '2030-01-01T00:00:00Z' }, repair);
      expect(ok.errors).toBeUndefined();
      expect(ok.data!.setInstanceLabels.labels).toMatchObject({ repair_status: 'InProgress', repair_eta: '2030-01-01T00:00:00Z' });
      const before = await head();
      const r = await setInstance(repairInstance, { repair_status: 'Completed', owner: 'repair-a' }, repair);
      expect(r.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'labels.owner' });
      expect(r.errors![0].message).toMatch(/repair_status, repair_details, repair_eta/);
      expect(await head()).toBe(before);
      expect((await setInstance(repairInstance, { owner: 'ops' }, operator)).errors).toBeUndefined();
    });

    it("completeRepair's repairDetails is bounded as the label it becomes, and the error names repairDetails", async () => {
      const r = await gql(port, 'mutation($d: String) { completeRepair(input: { machineId: "in-repair", repairStatus: "Completed", repairDetails: $d }) { id } }', { d: 'x'.repeat(1025) }, repair);
      expect(r.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'repairDetails' });
    });
  });
});
