import { join } from 'node:path';
import fc from 'fast-check';
import { SEAL_STREAM } from '../../src/event-store/log-seals';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { collect, gql, gqlResponse, wsClient } from '../support/api-client';
import { freePort, ServerProcess, startReadyServer, startServer, TEST_ADMIN_KEY, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

type Role = 'TENANT' | 'REPAIR_TENANT' | 'OPERATOR' | 'AUDITOR' | 'ADMIN';
const EVERYONE: Role[] = ['TENANT', 'REPAIR_TENANT', 'OPERATOR', 'AUDITOR', 'ADMIN'];
const OPS: Role[] = ['OPERATOR', 'ADMIN'];
const READERS: Role[] = ['OPERATOR', 'AUDITOR', 'ADMIN'];
let seq = 0;

/**
 * The access rules, one row per root field. A root field the schema has and this table does
 * not fails the test: a new resolver cannot ship without its rule.
 */
const MATRIX: Record<string, { allowed: Role[]; doc: () => { query: string; variables?: Record<string, unknown> } }> = {
  'Query.machine': { allowed: EVERYONE, doc: () => ({ query: '{ machine(id: "sec-1") { id } }' }) },
  'Query.machines': { allowed: EVERYONE, doc: () => ({ query: '{ machines(first: 5) { totalCount } }' }) },
  'Query.projections': { allowed: READERS, doc: () => ({ query: '{ projections { name } }' }) },
  'Query.apiKeys': { allowed: ['ADMIN'], doc: () => ({ query: '{ apiKeys { id } }' }) },
  'Mutation.registerMachines': { allowed: OPS, doc: () => ({ query: `mutation { registerMachines(input: { ids: ["mx-${++seq}"] }) { id } }` }) },
  'Mutation.setMachineLabels': { allowed: OPS, doc: () => ({ query: `mutation { setMachineLabels(input: { machineId: "sec-1", labels: { n: "${++seq}" } }) { id } }` }) },
  'Mutation.rebuildProjection': { allowed: OPS, doc: () => ({ query: 'mutation { rebuildProjection(name: "machines") { name } }' }) },
  'Mutation.retryProjection': { allowed: OPS, doc: () => ({ query: 'mutation { retryProjection(name: "machines") { name } }' }) },
  'Query.storeIntegrity': { allowed: OPS, doc: () => ({ query: '{ storeIntegrity(timeoutSeconds: 10) { ok } }' }) },
  'Mutation.createApiKey': { allowed: ['ADMIN'], doc: () => ({ query: 'mutation { createApiKey(input: { role: AUDITOR, name: "matrix" }) { id } }' }) },
  'Mutation.revokeApiKey': { allowed: ['ADMIN'], doc: () => ({ query: 'mutation { revokeApiKey(id: "no-such-key") { id } }' }) },
  'Query.operation': { allowed: READERS, doc: () => ({ query: '{ operation(id: "no-such-op") { id } }' }) },
  'Query.operations': { allowed: READERS, doc: () => ({ query: '{ operations { totalCount } }' }) },
  'Mutation.rebootMachine': { allowed: OPS, doc: () => ({ query: `mutation { rebootMachine(input: { machineId: "nope", requestId: "m-${++seq}" }) { id } }` }) },
  'Mutation.reimageMachine': { allowed: OPS, doc: () => ({ query: `mutation { reimageMachine(input: { machineId: "nope", requestId: "m-${++seq}", imageRef: "i" }) { id } }` }) },
  'Mutation.enterMaintenance': { allowed: OPS, doc: () => ({ query: `mutation { enterMaintenance(input: { machineId: "nope", requestId: "m-${++seq}" }) { id } }` }) },
  'Mutation.exitMaintenance': { allowed: OPS, doc: () => ({ query: `mutation { exitMaintenance(input: { machineId: "nope", requestId: "m-${++seq}" }) { id } }` }) },
  'Mutation.cancelOperation': { allowed: OPS, doc: () => ({ query: 'mutation { cancelOperation(id: "no-such-op") { id } }' }) },
  'Subscription.operationEvents': { allowed: READERS, doc: () => ({ query: 'subscription { operationEvents { event } }' }) },
  'Subscription.operationLogs': { allowed: READERS, doc: () => ({ query: 'subscription { operationLogs(operationId: "no-such-op") { line } }' }) },
  'Query.instance': { allowed: EVERYONE, doc: () => ({ query: '{ instance(id: "no-such-instance") { id } }' }) },
  'Query.instances': { allowed: EVERYONE, doc: () => ({ query: '{ instances { id } }' }) },
  'Mutation.allocateInstance': { allowed: ['TENANT'], doc: () => ({ query: `mutation { allocateInstance(input: { machineId: "nope", requestId: "a-${++seq}" }) { id } }` }) },
  'Mutation.releaseInstance': { allowed: ['TENANT', 'REPAIR_TENANT', 'OPERATOR', 'ADMIN'], doc: () => ({ query: 'mutation { releaseInstance(input: { id: "no-such-instance" }) { id } }' }) },
  'Mutation.addHealthOverride': { allowed: OPS, doc: () => ({ query: 'mutation { addHealthOverride(input: { machineId: "sec-1", template: VALIDATION, message: "m" }) { id } }' }) },
  'Mutation.removeHealthOverride': { allowed: OPS, doc: () => ({ query: 'mutation { removeHealthOverride(input: { machineId: "sec-1", source: "validation" }) { id } }' }) },
  'Mutation.claimMachineForRepair': { allowed: ['REPAIR_TENANT'], doc: () => ({ query: 'mutation { claimMachineForRepair(input: { machineId: "nope" }) { id } }' }) },
  'Mutation.setInstanceLabels': { allowed: ['REPAIR_TENANT', 'OPERATOR', 'ADMIN'], doc: () => ({ query: 'mutation { setInstanceLabels(input: { id: "nope", labels: {} }) { id } }' }) },
  'Mutation.completeRepair': { allowed: ['REPAIR_TENANT'], doc: () => ({ query: 'mutation { completeRepair(input: { machineId: "nope", repairStatus: "Completed" }) { id } }' }) },
  'Query.siteConfig': { allowed: READERS, doc: () => ({ query: '{ siteConfig { source } }' }) },
  'Mutation.setSiteConfig': { allowed: OPS, doc: () => ({ query: 'mutation { setSiteConfig(input: { autoMachineRepairEnabled: true }) { source } }' }) },
  'Subscription.machineChanged': { allowed: EVERYONE, doc: () => ({ query: 'subscription { machineChanged(id: "sec-1") { id } }' }) },
  'Query.drain': { allowed: READERS, doc: () => ({ query: '{ drain(id: "no-such-drain") { id } }' }) },
  'Query.drains': { allowed: READERS, doc: () => ({ query: '{ drains { id } }' }) },
  'Query.node': { allowed: READERS, doc: () => ({ query: '{ node(name: "nope") { name } }' }) },
  'Query.nodes': { allowed: READERS, doc: () => ({ query: '{ nodes { name } }' }) },
  'Query.vm': { allowed: READERS, doc: () => ({ query: '{ vm(vmid: 1) { vmid } }' }) },
  'Query.vms': { allowed: READERS, doc: () => ({ query: '{ vms { vmid } }' }) },
  'Mutation.startDrain': { allowed: OPS, doc: () => ({ query: 'mutation { startDrain(input: { node: "nope" }) { id } }' }) },
  'Mutation.cancelDrain': { allowed: OPS, doc: () => ({ query: 'mutation { cancelDrain(id: "no-such-drain") { id } }' }) },
  'Mutation.undrainNode': { allowed: OPS, doc: () => ({ query: 'mutation { undrainNode(node: "nope") { id } }' }) },
  'Mutation.enableNodeMaintenance': { allowed: OPS, doc: () => ({ query: 'mutation { enableNodeMaintenance(input: { node: "nope", reason: "r" }) { name } }' }) },
  'Mutation.disableNodeMaintenance': { allowed: OPS, doc: () => ({ query: 'mutation { disableNodeMaintenance(input: { node: "nope" }) { name } }' }) },
  'Mutation.createVm': { allowed: OPS, doc: () => ({ query: 'mutation { createVm(input: { vmid: 1, name: "v", node: "nope", cpuCores: 1, memoryGiB: 1 }) { vmid } }' }) },
  'Mutation.setVmTags': { allowed: OPS, doc: () => ({ query: 'mutation { setVmTags(vmid: 1, tags: []) { vmid } }' }) },
  'Mutation.deleteVm': { allowed: OPS, doc: () => ({ query: 'mutation { deleteVm(vmid: 1) }' }) },
  'Subscription.drainProgress': { allowed: READERS, doc: () => ({ query: 'subscription { drainProgress(node: "nope") { event } }' }) },
  'Mutation.createInstance': { allowed: ['TENANT'], doc: () => ({ query: `mutation { createInstance(input: { machineId: "nope", requestId: "c-${++seq}" }) { id } }` }) },
  'Mutation.retryInstanceProvisioning': { allowed: ['TENANT', 'OPERATOR', 'ADMIN'], doc: () => ({ query: 'mutation { retryInstanceProvisioning(id: "no-such-instance") { attemptId } }' }) },
  'Query.instanceCredentials': { allowed: ['TENANT', 'ADMIN'], doc: () => ({ query: '{ instanceCredentials(id: "no-such-instance") { password } }' }) },
  'Mutation.triggerRecovery': { allowed: OPS, doc: () => ({ query: 'mutation { triggerRecovery(input: { machineId: "nope" }) { id } }' }) },
  'Query.recovery': { allowed: READERS, doc: () => ({ query: '{ recovery(id: "no-such-recovery") { id } }' }) },
  'Query.recoveries': { allowed: READERS, doc: () => ({ query: '{ recoveries { id } }' }) },
  'Query.fleetHealth': { allowed: READERS, doc: () => ({ query: '{ fleetHealth { autoRecoveryPaused } }' }) },
  'Query.machineAt': { allowed: READERS, doc: () => ({ query: '{ machineAt(id: "sec-1", revision: 0) { phase } }' }) },
  'Query.events': { allowed: READERS, doc: () => ({ query: '{ events(first: 5) { nodes { id } } }' }) },
  'Query.causationChain': { allowed: READERS, doc: () => ({ query: '{ causationChain(eventId: "no-such-event") { rootId } }' }) },
  'Query.verifyStream': { allowed: READERS, doc: () => ({ query: '{ verifyStream(stream: "machine-sec-1") { ok } }' }) },
  'Query.verifyLog': { allowed: READERS, doc: () => ({ query: '{ verifyLog(limit: 1) { ok } }' }) },
  'Subscription.logVerification': { allowed: READERS, doc: () => ({ query: 'subscription { logVerification(limit: 1) { checkedEvents } }' }) },
  'Query.instanceAt': { allowed: READERS, doc: () => ({ query: '{ instanceAt(id: "no-such-instance", revision: 0) { status } }' }) },
  'Query.drainAt': { allowed: READERS, doc: () => ({ query: '{ drainAt(id: "no-such-drain", revision: 0) { status } }' }) },
  'Query.analytics': { allowed: READERS, doc: () => ({ query: '{ analytics { from } }' }) },
  'Query.verifyProjection': { allowed: READERS, doc: () => ({ query: '{ verifyProjection(name: "site_config") { ok } }' }) },
  'Subscription.projectionRebuild': { allowed: READERS, doc: () => ({ query: 'subscription { projectionRebuild(name: "machines") { progress } }' }) },
};

async function createKey(port: number, role: Role, tenantId?: string): Promise<string> {
  const r = await gql(port, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { role, tenantId, name: `${role}-${tenantId ?? 'x'}` } });
  if (!r.data) throw new Error(JSON.stringify(r.errors));
  return r.data.createApiKey.key;
}

/** The error code a subscription gets within a short wait, or null when it stays open without one. */
async function subscriptionOutcome(port: number, key: string | null, query: string): Promise<string | null> {
  let closedWith: number | null = null;
  const client = wsClient(port, key, (code) => (closedWith = code));
  const sub = collect(client, query);
  await new Promise((r) => setTimeout(r, 400));
  sub.unsubscribe();
  await client.dispose();
  if (closedWith === 4401) return 'UNAUTHENTICATED';
  const first = sub.errors[0] as Array<{ extensions?: { code?: string } }> | undefined;
  return Array.isArray(first) ? (first[0]?.extensions?.code ?? 'ERROR') : null;
}

describe('security', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  const keys = {} as Record<Role, string>;
  let tenant2: string;

  beforeAll(async () => {
    // Every row of the matrix is also sent without a key: more than the default budget of requests without a valid key.
    ({ server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'main'), LOG_LEVEL: 'info', GRAPHQL_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '100000' }));
    keys.ADMIN = TEST_ADMIN_KEY;
    keys.TENANT = await createKey(port, 'TENANT', 't1');
    tenant2 = await createKey(port, 'TENANT', 't2');
    keys.REPAIR_TENANT = await createKey(port, 'REPAIR_TENANT');
    keys.OPERATOR = await createKey(port, 'OPERATOR');
    keys.AUDITOR = await createKey(port, 'AUDITOR');
    await gql(port, `mutation { registerMachines(input: { ids: ["sec-1"], phase: READY }) { id } }`);
    await gql(port, `mutation { registerMachines(input: { ids: ["hv-sec"], phase: READY, hypervisor: true, capacity: { cpuCores: 8, memoryGiB: 32 } }) { id } }`);
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('the access table covers every root field of the schema', async () => {
    const r = await gql(port, `{ __schema { queryType { fields { name } } mutationType { fields { name } } subscriptionType { fields { name } } } }`);
    const s = r.data!.__schema;
    const served = [
      ...s.queryType.fields.map((f: { name: string }) => `Query.${f.name}`),
      ...s.mutationType.fields.map((f: { name: string }) => `Mutation.${f.name}`),
      ...s.subscriptionType.fields.map((f: { name: string }) => `Subscription.${f.name}`),
    ].sort();
    expect(served).toEqual(Object.keys(MATRIX).sort());
  });

  it.each(Object.keys(MATRIX))('%s: allowed and denied by role, exactly as the table says', async (field) => {
    const row = MATRIX[field];
    for (const role of [...EVERYONE, null] as Array<Role | null>) {
      const key = role ? keys[role] : null;
      const { query, variables } = row.doc();
      const code = field.startsWith('Subscription.')
        ? await subscriptionOutcome(port, key, query)
        : ((await gql(port, query, variables, key)).errors?.[0]?.extensions?.code ?? null);
      const expected = role === null ? 'UNAUTHENTICATED' : row.allowed.includes(role) ? 'allowed' : 'FORBIDDEN';
      const actual = code === 'UNAUTHENTICATED' || code === 'FORBIDDEN' ? code : 'allowed';
      expect(`${field} as ${role ?? 'no key'}: ${actual}`).toBe(`${field} as ${role ?? 'no key'}: ${expected}`);
    }
  });

  it('an unknown key is UNAUTHENTICATED', async () => {
    const r = await gql(port, '{ machines { totalCount } }', undefined, 'dd_not-a-real-key');
    expect(r.errors![0].extensions!.code).toBe('UNAUTHENTICATED');
  });

  it("tenants see only their own machines: another's is NOT_FOUND, never FORBIDDEN, in queries and subscriptions", async () => {
    for (const key of [keys.TENANT, tenant2]) {
      const one = await gql(port, '{ machine(id: "sec-1") { id } }', undefined, key);
      expect(one.errors![0].extensions!.code).toBe('NOT_FOUND');
      const list = await gql(port, '{ machines { totalCount nodes { id } } }', undefined, key);
      expect(list.data!.machines).toEqual({ totalCount: 0, nodes: [] });
    }
    const client = wsClient(port, keys.TENANT);
    const sub = collect(client, 'subscription { machineChanged(id: "sec-1") { id labels } }');
    const admin = wsClient(port);
    const adminSub = collect(admin, 'subscription { machineChanged(id: "sec-1") { id labels } }');
    await new Promise((r) => setTimeout(r, 300));
    await gql(port, 'mutation { setMachineLabels(input: { machineId: "sec-1", labels: { seen: "by-operators-only" } }) { id } }');
    await adminSub.next(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(sub.messages).toEqual([]);
    expect(sub.errors).toEqual([]);
    sub.unsubscribe();
    adminSub.unsubscribe();
    await client.dispose();
    await admin.dispose();
  });

  it('a revoked key stops working at once, and its open subscription is closed', async () => {
    const key = await createKey(port, 'OPERATOR');
    const created = await gql(port, '{ apiKeys { id name role revokedAt } }');
    const id = created.data!.apiKeys.filter((k: any) => k.role === 'OPERATOR' && !k.revokedAt).pop().id;
    let closed: { code: number; reason: string } | null = null;
    const client = wsClient(port, key, (code, reason) => (closed = { code, reason }));
    const sub = collect(client, 'subscription { machineChanged(id: "sec-1") { id } }');
    await new Promise((r) => setTimeout(r, 300));
    expect(closed).toBeNull();
    const revoked = await gql(port, `mutation { revokeApiKey(id: "${id}") { id revokedAt } }`);
    expect(revoked.data!.revokeApiKey.revokedAt).not.toBeNull();
    await waitFor(() => closed !== null, 3_000, 'the socket to close');
    expect(closed).toMatchObject({ code: 4403 });
    expect((await gql(port, '{ machines { totalCount } }', undefined, key)).errors![0].extensions!.code).toBe('UNAUTHENTICATED');
    sub.unsubscribe();
    await client.dispose();
  });

  it('every event records the principal that caused it', async () => {
    await gql(port, 'mutation { setMachineLabels(input: { machineId: "sec-1", labels: { by: "operator" } }) { id } }', undefined, keys.OPERATOR);
    const store = new SqliteEventStore(join(dir.path, 'main', 'events.db'));
    const [last] = await store.readStream('machine-sec-1', { direction: 'backwards', maxCount: 1 });
    await store.close();
    expect(last.metadata.actor).toMatch(/^OPERATOR:OPERATOR-x \(key [0-9a-f-]{36}\)$/);
  });

  it('keys and authorization headers never reach the logs', () => {
    expect(server.output()).not.toContain(TEST_ADMIN_KEY);
    expect(server.output()).not.toContain(keys.OPERATOR);
  });

  describe('fuzzing every mutation input (fast-check)', () => {
    // Every row names the role whose key sends it (jest's it.each needs rows as long as the test's parameters).
    const MUTATIONS: Array<[string, string, string, Role]> = [
      ['allocateInstance', 'AllocateInstanceInput!', 'allocateInstance(input: $v) { id }', 'TENANT'],
      ['releaseInstance', 'ReleaseInstanceInput!', 'releaseInstance(input: $v) { id }', 'ADMIN'],
      ['rebootMachine', 'OperationRequestInput!', 'rebootMachine(input: $v) { id }', 'ADMIN'],
      ['reimageMachine', 'ReimageInput!', 'reimageMachine(input: $v) { id }', 'ADMIN'],
      ['cancelOperation', 'ID!', 'cancelOperation(id: $v) { id }', 'ADMIN'],
      ['enterMaintenance', 'EnterMaintenanceInput!', 'enterMaintenance(input: $v) { id }', 'ADMIN'],
      ['exitMaintenance', 'OperationRequestInput!', 'exitMaintenance(input: $v) { id }', 'ADMIN'],
      ['addHealthOverride', 'AddHealthOverrideInput!', 'addHealthOverride(input: $v) { id }', 'ADMIN'],
      ['removeHealthOverride', 'RemoveHealthOverrideInput!', 'removeHealthOverride(input: $v) { id }', 'ADMIN'],
      ['claimMachineForRepair', 'ClaimMachineInput!', 'claimMachineForRepair(input: $v) { id }', 'REPAIR_TENANT'],
      ['setInstanceLabels', 'SetInstanceLabelsInput!', 'setInstanceLabels(input: $v) { id }', 'ADMIN'],
      ['completeRepair', 'CompleteRepairInput!', 'completeRepair(input: $v) { id }', 'REPAIR_TENANT'],
      ['setSiteConfig', 'SetSiteConfigInput!', 'setSiteConfig(input: $v) { source }', 'ADMIN'],
      ['registerMachines', 'RegisterMachinesInput!', 'registerMachines(input: $v) { id }', 'ADMIN'],
      ['setMachineLabels', 'SetMachineLabelsInput!', 'setMachineLabels(input: $v) { id }', 'ADMIN'],
      ['createApiKey', 'CreateApiKeyInput!', 'createApiKey(input: $v) { id }', 'ADMIN'],
      ['revokeApiKey', 'ID!', 'revokeApiKey(id: $v) { id }', 'ADMIN'],
      ['rebuildProjection', 'String!', 'rebuildProjection(name: $v) { name }', 'ADMIN'],
      ['retryProjection', 'String!', 'retryProjection(name: $v) { name }', 'ADMIN'],
      ['startDrain', 'StartDrainInput!', 'startDrain(input: $v) { id }', 'ADMIN'],
      ['cancelDrain', 'ID!', 'cancelDrain(id: $v) { id }', 'ADMIN'],
      ['undrainNode', 'ID!', 'undrainNode(node: $v) { id }', 'ADMIN'],
      ['enableNodeMaintenance', 'EnableNodeMaintenanceInput!', 'enableNodeMaintenance(input: $v) { name }', 'ADMIN'],
      ['disableNodeMaintenance', 'DisableNodeMaintenanceInput!', 'disableNodeMaintenance(input: $v) { name }', 'ADMIN'],
      ['createVm', 'CreateVmInput!', 'createVm(input: $v) { vmid }', 'ADMIN'],
      ['setVmTags', '[String!]!', 'setVmTags(vmid: 1, tags: $v) { vmid }', 'ADMIN'],
      ['deleteVm', 'Int!', 'deleteVm(vmid: $v)', 'ADMIN'],
      ['triggerRecovery', 'TriggerRecoveryInput!', 'triggerRecovery(input: $v) { id }', 'ADMIN'],
      ['createInstance', 'CreateInstanceInput!', 'createInstance(input: $v) { id }', 'TENANT'],
      ['retryInstanceProvisioning', 'ID!', 'retryInstanceProvisioning(id: $v) { attemptId }', 'ADMIN'],
    ];
    const nasty = fc.oneof(
      fc.jsonValue(),
      fc.string(),
      fc.constantFrom('', ' ', '../../etc/passwd', "'; DROP TABLE events; --", '\u0000', 'x'.repeat(5000), '{"$gt": ""}', '-1', 'NaN'),
      fc.integer(),
      fc.double(),
    );
    const shaped = fc.record(
      {
        ids: fc.oneof(fc.array(nasty, { maxLength: 5 }), nasty),
        phase: fc.oneof(fc.constantFrom('READY', 'FACTORY_READY', 'MAINTENANCE', 'BOGUS'), nasty),
        hypervisor: nasty,
        capacity: fc.oneof(fc.record({ cpuCores: nasty, memoryGiB: nasty }), nasty),
        labels: nasty,
        machineId: nasty,
        role: fc.oneof(fc.constantFrom('TENANT', 'ADMIN', 'ROOT'), nasty),
        tenantId: nasty,
        name: nasty,
        node: fc.oneof(fc.constantFrom('sec-1', 'hv-sec'), nasty),
        reason: nasty,
        drain: nasty,
        undrain: nasty,
        drainMode: fc.oneof(fc.constantFrom('SOFT', 'HARD', 'GENTLE'), nasty),
        maxConcurrent: fc.oneof(fc.integer({ min: -5, max: 100 }), nasty),
        targetNode: nasty,
        deadline: nasty,
        vmid: fc.oneof(fc.integer(), nasty),
        tags: fc.oneof(fc.array(nasty, { maxLength: 4 }), nasty),
        cpuCores: nasty,
        memoryGiB: nasty,
        status: fc.oneof(fc.constantFrom('running', 'stopped', 'paused'), nasty),
        dbType: fc.oneof(fc.constantFrom('shared', 'dedicated', 'oracle'), nasty),
        requestId: nasty,
      },
      { requiredKeys: [] },
    );

    it('every mutation of the schema is fuzzed', async () => {
      const r = await gql(port, '{ __schema { mutationType { fields { name } } } }');
      const all = r.data!.__schema.mutationType.fields.map((f: { name: string }) => f.name).sort();
      expect(MUTATIONS.map(([name]) => name).sort()).toEqual(all);
    });

    it.each(MUTATIONS)('%s: malformed input is never INTERNAL or 5xx, appends nothing, and names the field', async (_name, type, selection, role) => {
      const store = new SqliteEventStore(join(dir.path, 'main', 'events.db'));
      try {
        await fc.assert(
          fc.asyncProperty(fc.oneof(shaped, nasty), async (value) => {
            const before = await store.headPosition();
            const { status, body } = await gqlResponse(port, `mutation($v: ${type}) { ${selection} }`, { v: value }, keys[role]);
            expect(status).toBeLessThan(500);
            const errors = body.errors ?? [];
            for (const e of errors) expect(e.extensions?.code).not.toBe('INTERNAL');
            if (errors.length === 0) return; // a valid input: it may append
            // Nothing but, perhaps, a seal of the log (written in the background).
            expect((await store.readAll({ from: before })).filter((e) => e.stream !== SEAL_STREAM)).toEqual([]);
            const e = errors[0];
            if (e.extensions?.code === 'BAD_USER_INPUT') {
              expect(typeof e.extensions.field === 'string' || /"\$v[^"]*"|\$v/.test(e.message)).toBe(true);
            }
          }),
          { numRuns: 60 },
        );
      } finally {
        await store.close();
      }
    });
  });
});

describe('query limits and rate limits', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    server = startServer(
      {
        DATA_DIR: join(dir.path, 'limits'),
        LOG_LEVEL: 'warn',
        GRAPHQL_MAX_DEPTH: '3', // a root field is level 1, a leaf counts too
        GRAPHQL_MAX_COST: '500',
        GRAPHQL_MAX_ALIASES: '2',
        GRAPHQL_MAX_ROOT_FIELDS: '3',
        GRAPHQL_RATE_LIMIT_PER_MINUTE: '40',
        GRAPHQL_BODY_LIMIT: '20kb',
      },
      port,
    );
    await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'readiness');
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('a query deeper than the limit is refused', async () => {
    const r = await gql(port, '{ machines { nodes { capacity { cpuCores } } } }');
    expect(r.errors![0].message).toMatch(/depth limit of 3 exceeded, found 4/);
    expect(r.errors![0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'depth', max: 3, found: 4 });
    expect(r.data ?? null).toBeNull();
  });

  it('a query costlier than the limit is refused, list sizes counted', async () => {
    expect((await gql(port, '{ machines(first: 10) { nodes { id } } }')).errors).toBeUndefined();
    const r = await gql(port, '{ machines(first: 400) { nodes { id phase } } }');
    expect(r.errors![0]).toMatchObject({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit: 'cost', max: 500 } });
    expect(r.errors![0].message).toMatch(/query cost \d+ exceeds the limit 500/);
  });

  it('a cost is measured with the variables it reads: list sizes count, other values do not, and a value that does not coerce is not remembered', async () => {
    // Eleven fields a machine: 10 machines cost 110, the default 50 cost 550.
    const doc = 'query($n: Int, $f: MachineFilter) { machines(first: $n, filter: $f) { totalCount nodes { id phase revision hypervisor labels allocatable effectiveState instance activeOperation } } }';
    const costly = /query cost \d+ exceeds the limit 500/;
    expect((await gql(port, doc, { n: 10, f: { labels: { a: '1' } } })).errors).toBeUndefined();
    expect((await gql(port, doc, { n: 400, f: { labels: { a: '1' } } })).errors![0].message).toMatch(costly);
    // Another filter, the same list size: the same verdict, either way.
    expect((await gql(port, doc, { n: 400, f: { labels: { b: '2' } } })).errors![0].message).toMatch(costly);
    expect((await gql(port, doc, { n: 10, f: { labels: { b: '2' } } })).errors).toBeUndefined();
    // A list size the cost cannot use is refused, naming the variable...
    const bad = await gql(port, doc, { n: 'lots', f: null });
    expect(bad.errors![0].message).toMatch(/\$n/);
    expect(bad.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'n' });
    // ...and its failed measurement does not stand in for the default size afterwards.
    expect((await gql(port, doc, { f: null })).errors![0].message).toMatch(costly);
  });

  it('too many aliases are refused', async () => {
    const r = await gql(port, '{ a: projections { name } b: projections { name } c: projections { name } }');
    expect(r.errors![0].message).toMatch(/Aliases limit of 2 exceeded, found 3/);
    expect(r.errors![0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'aliases', max: 2, found: 3 });
  });

  it('too many root fields are refused', async () => {
    const r = await gql(port, '{ projections { name } machines { totalCount } apiKeys { id } x: projections { name } }');
    expect(r.errors![0].message).toMatch(/too many root fields: 4 \(limit 3\)/);
  });

  it('a request body over the limit is refused before it is parsed', async () => {
    const res = await fetch(`http://localhost:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}` },
      body: JSON.stringify({ query: `{ projections { name } } # ${'x'.repeat(30_000)}` }),
    });
    expect(res.status).toBe(413);
  });

  it('batched HTTP requests are refused', async () => {
    const res = await fetch(`http://localhost:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}` },
      body: JSON.stringify([{ query: '{ projections { name } }' }, { query: '{ projections { name } }' }]),
    });
    expect(res.status).toBe(400);
  });

  it('each key is rate-limited in operations, not requests, and one key does not spend another’s', async () => {
    const a = (await gql(port, 'mutation { createApiKey(input: { role: AUDITOR, name: "rate-a" }) { key } }')).data!.createApiKey.key;
    const b = (await gql(port, 'mutation { createApiKey(input: { role: AUDITOR, name: "rate-b" }) { key } }')).data!.createApiKey.key;
    const codes: Array<string | null> = [];
    for (let i = 0; i < 41; i++) codes.push((await gql(port, '{ projections { name } }', undefined, a)).errors?.[0]?.extensions?.code ?? null);
    expect(codes.slice(0, 40).every((c) => c === null)).toBe(true);
    expect(codes[40]).toBe('RATE_LIMITED');
    const limited = await gqlResponse(port, '{ projections { name } }', undefined, a);
    expect(limited.status).toBe(429);
    expect((await gql(port, '{ projections { name } }', undefined, b)).errors).toBeUndefined();
  });
});

describe('production mode', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('refuses to start without configured keys, and creates none', async () => {
    const server = startServer({ DATA_DIR: join(dir.path, 'p1'), NODE_ENV: 'production', DRYDOCK_ADMIN_KEY: '' }, await freePort());
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(/refusing to start in production without API keys/);
  });

  it('has no introspection, no IDE, no field suggestions, CSRF prevention and security headers', async () => {
    const port = await freePort();
    const server = startServer({ DATA_DIR: join(dir.path, 'p2'), NODE_ENV: 'production', LOG_LEVEL: 'warn' }, port);
    try {
      await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'readiness');
      const intro = await gql(port, '{ __schema { types { name } } }');
      expect(intro.errors![0].message).toMatch(/introspection/i);
      const typo = await gql(port, '{ machinez { totalCount } }');
      expect(typo.errors![0].message).not.toMatch(/Did you mean/);
      const page = await fetch(`http://localhost:${port}/graphql`, { headers: { accept: 'text/html' } });
      expect(await page.text()).not.toMatch(/GraphiQL/);
      const csrf = await fetch(`http://localhost:${port}/graphql?query=${encodeURIComponent('{ projections { name } }')}`, {
        headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
      });
      expect(csrf.status).toBe(400);
      expect(await csrf.text()).toMatch(/CSRF/i);
      const res = await fetch(`http://localhost:${port}/healthz`);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toBeTruthy();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
