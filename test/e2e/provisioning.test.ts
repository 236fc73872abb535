import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { gql } from '../support/api-client';
import { freePort, ServerProcess, startReadyServer, startServer, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

const ENV = { LOG_LEVEL: 'warn', PROVISIONING_READY_TIMEOUT_MS: '600', PROVISIONING_READY_POLL_MS: '20' };
const INSTANCE = 'id status provisioningStatus errorMessage databaseId dbType retries provisioningAttempts { id number status error deploymentRemoved steps { name detail } }';
let seq = 0;

async function machine(port: number, labels: Record<string, string> = {}): Promise<string> {
  const id = `pv-${++seq}`;
  const r = await gql(port, 'mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }', { i: { ids: [id], phase: 'READY', labels } });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return id;
}
async function tenantKey(port: number, tenantId: string): Promise<string> {
  return (await gql(port, 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }', { i: { role: 'TENANT', tenantId, name: tenantId } })).data!.createApiKey.key;
}
const instance = async (port: number, id: string, key: string) => (await gql(port, `{ instance(id: "${id}") { ${INSTANCE} } }`, undefined, key)).data!.instance;
async function settled(port: number, id: string, key: string) {
  await waitFor(async () => (await instance(port, id, key)).status !== 'CREATING', 15_000, `instance ${id} to settle`);
  return instance(port, id, key);
}
async function create(port: number, key: string, machineId: string, requestId: string, dbType = 'shared') {
  const r = await gql(port, `mutation($i: CreateInstanceInput!) { createInstance(input: $i) { ${INSTANCE} } }`, { i: { machineId, dbType, requestId } }, key);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.createInstance;
}

describe('provisioning', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  let key: string;
  const data = () => join(dir.path, 'data');

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: data(), ...ENV }));
    key = await tenantKey(port, 'acme');
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('succeeds: CREATING/PENDING, then READY/READY, each step recorded; credentials come from the provider and are stored nowhere', async () => {
    const m = await machine(port);
    const created = await create(port, key, m, 'ok-1', 'dedicated');
    expect(created).toMatchObject({ status: 'CREATING', dbType: 'dedicated', retries: 0 });
    expect(['PENDING', 'PROVISIONING']).toContain(created.provisioningStatus);
    const done = await settled(port, created.id, key);
    expect(done).toMatchObject({ status: 'READY', provisioningStatus: 'READY', errorMessage: null });
    expect(done.provisioningAttempts).toHaveLength(1);
    expect(done.provisioningAttempts[0]).toMatchObject({ number: 1, status: 'SUCCEEDED' });
    expect(done.provisioningAttempts[0].steps.map((s: { name: string }) => s.name)).toEqual(['database', 'deploy', 'ready']);
    const creds = (await gql(port, `{ instanceCredentials(id: "${created.id}") { databaseId username password } }`, undefined, key)).data!.instanceCredentials;
    expect(creds.databaseId).toBe(done.databaseId);
    expect(creds.password.length).toBeGreaterThan(20);
    for (const file of ['events.db', 'events.db-wal', 'read.db', 'read.db-wal']) {
      let bytes = '';
      try {
        bytes = readFileSync(join(data(), file)).toString('latin1');
      } catch {
        continue;
      }
      expect(bytes.includes(creds.password)).toBe(false);
    }
    // Another tenant cannot see them.
    const other = await tenantKey(port, 'globex');
    const denied = await gql(port, `{ instanceCredentials(id: "${created.id}") { password } }`, undefined, other);
    expect(denied.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });

  it('fails with status and provisioningStatus in one event, the reason said, the deployment removed and the database kept', async () => {
    const m = await machine(port, { 'sim.deploy-fail-times': 'all' });
    const created = await create(port, key, m, 'fail-1');
    const done = await settled(port, created.id, key);
    expect(done).toMatchObject({ status: 'ERROR', provisioningStatus: 'FAILED', errorMessage: expect.stringMatching(/^deploy failed: deployer could not start/) });
    expect(done.databaseId).toMatch(/^db-shared-/);
    expect(done.provisioningAttempts[0]).toMatchObject({ status: 'FAILED', error: done.errorMessage, deploymentRemoved: true });
    const store = new SqliteEventStore(join(data(), 'events.db'));
    const types = (await store.readStream(`instance-${created.id}`)).map((e) => e.type);
    store.close();
    expect(types).toEqual(['InstanceAllocated', 'ProvisioningStarted', 'ProvisioningStepCompleted', 'ProvisioningFailed', 'DeploymentRemoved']);
  });

  it('a deployment not ready within the timeout fails the attempt saying so', async () => {
    const m = await machine(port, { 'sim.never-ready': '' });
    const done = await settled(port, (await create(port, key, m, 'slow-1')).id, key);
    expect(done).toMatchObject({ status: 'ERROR', provisioningStatus: 'FAILED', errorMessage: 'ready failed: not ready within 600 ms' });
  });

  it('retry from ERROR succeeds without a second allocation; the same requestId starts nothing new; each attempt is visible', async () => {
    const m = await machine(port, { 'sim.deploy-fail-times': '1' });
    const created = await create(port, key, m, 'retry-1');
    const failed = await settled(port, created.id, key);
    expect(failed.status).toBe('ERROR');
    const retry = `mutation($id: ID!, $r: String) { retryInstanceProvisioning(id: $id, requestId: $r) { attemptId instance { status provisioningStatus retries } } }`;
    const first = await gql(port, retry, { id: created.id, r: 'again-1' }, key);
    expect(first.errors).toBeUndefined();
    expect(first.data!.retryInstanceProvisioning.instance).toMatchObject({ status: 'CREATING', retries: 1 });
    const dup = await gql(port, retry, { id: created.id, r: 'again-1' }, key);
    expect(dup.data!.retryInstanceProvisioning.attemptId).toBe(first.data!.retryInstanceProvisioning.attemptId);
    const done = await settled(port, created.id, key);
    expect(done).toMatchObject({ status: 'READY', provisioningStatus: 'READY', errorMessage: null, retries: 1, databaseId: failed.databaseId });
    expect(done.provisioningAttempts.map((a: { status: string }) => a.status)).toEqual(['FAILED', 'SUCCEEDED']);
    expect(done.provisioningAttempts[1].id).toBe(first.data!.retryInstanceProvisioning.attemptId);
    expect(done.provisioningAttempts[1].steps[0].detail).toBe(`reused shared database ${failed.databaseId}`);
    const store = new SqliteEventStore(join(data(), 'events.db'));
    const events = await store.readStream(`instance-${created.id}`);
    store.close();
    expect(events.filter((e) => e.type === 'ProvisioningRetried')).toHaveLength(1);
  });

  it('retry from any status but ERROR is FAILED_PRECONDITION naming the status', async () => {
    const m = await machine(port);
    const created = await create(port, key, m, 'ready-1');
    await settled(port, created.id, key);
    const r = await gql(port, `mutation { retryInstanceProvisioning(id: "${created.id}") { attemptId } }`, undefined, key);
    expect(r.errors?.[0]).toMatchObject({ extensions: { code: 'FAILED_PRECONDITION', status: 'READY' }, message: expect.stringMatching(/is READY/) });
  });

  it('dbType must be shared or dedicated (BAD_USER_INPUT naming it)', async () => {
    const m = await machine(port);
    const r = await gql(port, 'mutation($i: CreateInstanceInput!) { createInstance(input: $i) { id } }', { i: { machineId: m, dbType: 'mainframe', requestId: 'bad-1' } }, key);
    expect(r.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringMatching(/dbType/) });
  });
});

describe('provisioning survives a restart', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('kill the app mid-provisioning, start it again: it resumes, each step recorded once', async () => {
    const data = join(dir.path, 'data');
    const port = await freePort();
    let server = startServer({ DATA_DIR: data, ...ENV }, port);
    await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'readiness');
    const key = await tenantKey(port, 'acme');
    const m = await machine(port, { 'sim.step-ms': '700' });
    const created = await create(port, key, m, 'crash-1');
    await waitFor(async () => (await instance(port, created.id, key)).provisioningStatus === 'PROVISIONING', 10_000, 'provisioning to start');
    await new Promise((r) => setTimeout(r, 300)); // inside the database step
    server.child.kill('SIGKILL');
    await server.exited;

    server = startServer({ DATA_DIR: data, ...ENV }, port);
    try {
      await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'readiness after restart');
      const done = await settled(port, created.id, key);
      expect(done).toMatchObject({ status: 'READY', provisioningStatus: 'READY', retries: 0 });
      const store = new SqliteEventStore(join(data, 'events.db'));
      const events = await store.readStream(`instance-${created.id}`);
      store.close();
      expect(events.map((e) => e.type)).toEqual(['InstanceAllocated', 'ProvisioningStarted', 'ProvisioningStepCompleted', 'ProvisioningStepCompleted', 'ProvisioningStepCompleted', 'InstanceProvisioned']);
      expect(done.provisioningAttempts[0].steps[0].detail).toMatch(/^allocated shared database/);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
