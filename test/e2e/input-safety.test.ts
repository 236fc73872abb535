import fc from 'fast-check';
import { join } from 'node:path';
import { gql, gqlResponse, Key } from '../support/api-client';
import { ServerProcess, startReadyServer } from '../support/server-process';
import { tempDir } from '../support/temp';

/** A JSON object with an own `__proto__` key, as a client's JSON body carries it. */
const ownProto = (value: unknown) => JSON.parse(`{"__proto__": ${JSON.stringify(value)}}`) as Record<string, unknown>;

/** Issue 31.3: what a client sends as labels, or as a label filter, is plain data, never a query. */
describe('label filters and label keys from clients are plain values', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  let tenant: string;
  let operator: string;

  const createKey = async (role: string, tenantId?: string) => {
    const r = await gql(port, 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }', { i: { role, tenantId, name: `${role}-${tenantId ?? 'x'}` } });
    if (!r.data) throw new Error(JSON.stringify(r.errors));
    return r.data.createApiKey.key as string;
  };
  const machinesWith = (labels: unknown, key: Key) =>
    gqlResponse(port, 'query($f: MachineFilter) { machines(filter: $f) { totalCount nodes { id } } }', { f: { labels } }, key);

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn' }));
    tenant = await createKey('TENANT', 't1');
    operator = await createKey('OPERATOR');
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
