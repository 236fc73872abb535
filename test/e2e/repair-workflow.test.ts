import { gql } from '../support/api-client';
import { ServerProcess, startReadyServer, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';
import { join } from 'node:path';

type Overrides = Array<{ source: string; message: string; issue: { category: string; summary: string } | null }>;

describe.each([
  ['on', 'true'],
  ['off', 'false'],
])('the repair workflow, auto-repair %s', (_label, autoRepair) => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  let tenant: string;
  let otherTenant: string;
  let repair: string;
  let n = 0;

  const key = async (role: string, tenantId?: string) =>
    (await gql(port, 'mutation($r: Role!, $t: String) { createApiKey(input: { role: $r, tenantId: $t, name: "k" }) { key } }', { r: role, t: tenantId })).data!.createApiKey.key as string;
  const machine = async (id: string) =>
    (await gql(port, `{ machine(id: "${id}") { allocatable instance healthOverrides { source message issue { category summary } } } }`)).data!.machine as {
      allocatable: boolean;
      instance: string | null;
      healthOverrides: Overrides;
    };
  const sources = async (id: string) => (await machine(id)).healthOverrides.map((o) => o.source).sort();

  /** A tenant uses a fresh machine and releases it with an issue; returns the machine id. */
  async function reported(): Promise<string> {
    const id = `rw-${++n}`;
    await gql(port, `mutation { registerMachines(input: { ids: ["${id}"], phase: READY }) { id } }`);
    const inst = (await gql(port, `mutation { allocateInstance(input: { machineId: "${id}", requestId: "${id}" }) { id } }`, undefined, tenant)).data!.allocateInstance;
    await gql(port, `mutation { releaseInstance(input: { id: "${inst.id}", issue: { category: HARDWARE, summary: "ECC errors", details: "DIMM 3" } }) { id } }`, undefined, tenant);
    if (autoRepair === 'true') await waitFor(async () => (await sources(id)).includes('repair-request'), 5_000, 'the repair request');
    else await gql(port, `mutation { addHealthOverride(input: { machineId: "${id}", template: REQUEST_REPAIR, message: "please fix" }) { id } }`);
    return id;
  }

  async function repairAndRelease(id: string, labels: Record<string, string> | null, issue?: string): Promise<void> {
    const claimed = (await gql(port, `mutation { claimMachineForRepair(input: { machineId: "${id}" }) { id } }`, undefined, repair)).data!.claimMachineForRepair;
    if (labels) await gql(port, 'mutation($i: SetInstanceLabelsInput!) { setInstanceLabels(input: $i) { id } }', { i: { id: claimed.id, labels } }, repair);
    const r = await gql(port, `mutation { releaseInstance(input: { id: "${claimed.id}"${issue ?? ''} }) { status } }`, undefined, repair);
    expect(r.data!.releaseInstance.status).toBe('RELEASED');
    await waitFor(async () => !(await sources(id)).includes('repair-request'), 5_000, 'the outcome');
  }

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn', AUTO_MACHINE_REPAIR_ENABLED: autoRepair }));
    tenant = await key('TENANT', 'acme');
    otherTenant = await key('TENANT', 'globex');
    repair = await key('REPAIR_TENANT');
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it(autoRepair === 'true' ? 'an issue report applies tenant-reported-issue and repair-request' : 'an issue report applies tenant-reported-issue only; the machine waits for a manual repair request', async () => {
    const id = `rw-report-${autoRepair}`;
    await gql(port, `mutation { registerMachines(input: { ids: ["${id}"], phase: READY }) { id } }`);
    const inst = (await gql(port, `mutation { allocateInstance(input: { machineId: "${id}", requestId: "r" }) { id } }`, undefined, tenant)).data!.allocateInstance;
    await gql(port, `mutation { releaseInstance(input: { id: "${inst.id}", issue: { category: NETWORK, summary: "flapping link" } }) { id } }`, undefined, tenant);
    const tri = (await machine(id)).healthOverrides.find((o) => o.source === 'tenant-reported-issue')!;
    expect(tri.message).toBe('NETWORK: flapping link [tenant acme]');
    expect((await machine(id)).allocatable).toBe(false);
    await new Promise((r) => setTimeout(r, 500));
    expect(await sources(id)).toEqual(autoRepair === 'true' ? ['repair-request', 'tenant-reported-issue'] : ['tenant-reported-issue']);
  });

  it('a normal tenant can neither claim nor be allocated a machine carrying overrides', async () => {
    const id = await reported();
    expect((await gql(port, `mutation { claimMachineForRepair(input: { machineId: "${id}" }) { id } }`, undefined, otherTenant)).errors![0].extensions!.code).toBe('FORBIDDEN');
    const r = await gql(port, `mutation { allocateInstance(input: { machineId: "${id}", requestId: "steal" }) { id } }`, undefined, otherTenant);
    expect(r.errors![0].extensions!.code).toBe('FAILED_PRECONDITION');
    expect(r.errors![0].message).toMatch(/prevents allocations/);
  });

  it('repair_status Completed (any case) with no new issue removes both overrides: the machine is back in the pool', async () => {
    const id = await reported();
    await repairAndRelease(id, { repair_status: 'completed', repair_details: 'replaced DIMM 3' });
    await waitFor(async () => (await sources(id)).length === 0, 5_000, 'both overrides to go');
    expect((await machine(id)).allocatable).toBe(true);
  });

  it('completeRepair sets the labels and releases in one step', async () => {
    const id = await reported();
    await gql(port, `mutation { claimMachineForRepair(input: { machineId: "${id}" }) { id } }`, undefined, repair);
    const done = await gql(port, `mutation { completeRepair(input: { machineId: "${id}", repairStatus: "Completed", repairDetails: "reseated" }) { status labels } }`, undefined, repair);
    expect(done.data!.completeRepair).toEqual({ status: 'RELEASED', labels: { repair_status: 'Completed', repair_details: 'reseated' } });
    await waitFor(async () => (await sources(id)).length === 0, 5_000, 'both overrides to go');
  });

  it('Completed with a new issue removes repair-request and applies tenant-reported-issue with the new issue', async () => {
    const id = await reported();
    await repairAndRelease(id, { repair_status: 'Completed' }, ', issue: { category: PERFORMANCE, summary: "fans at 100%" }');
    await waitFor(async () => (await machine(id)).healthOverrides.some((o) => o.issue?.summary === 'fans at 100%'), 5_000, 'the new issue');
    expect(await sources(id)).toEqual(['tenant-reported-issue']);
    expect((await machine(id)).allocatable).toBe(false);
  });

  it('a machine that keeps coming back soon after completed repairs goes OUT_FOR_REPAIR, and automatic repair stops', async () => {
    const id = await reported();
    let cycle = 0;
    const relapse = async () => {
      const inst = (await gql(port, `mutation { allocateInstance(input: { machineId: "${id}", requestId: "again-${++cycle}" }) { id } }`, undefined, tenant)).data!.allocateInstance;
      await gql(port, `mutation { releaseInstance(input: { id: "${inst.id}", issue: { category: HARDWARE, summary: "ECC errors again" } }) { id } }`, undefined, tenant);
    };
    for (let i = 0; i < 3; i++) {
      await repairAndRelease(id, { repair_status: 'Completed' });
      await waitFor(async () => (await sources(id)).length === 0, 5_000, 'the machine back in the pool');
      await relapse();
      if (autoRepair === 'false' && i < 2) await gql(port, `mutation { addHealthOverride(input: { machineId: "${id}", template: REQUEST_REPAIR, message: "again" }) { id } }`);
      if (autoRepair === 'true' && i < 2) await waitFor(async () => (await sources(id)).includes('repair-request'), 5_000, 'the repair request');
    }
    await new Promise((r) => setTimeout(r, 500));
    const m = (await gql(port, `{ machine(id: "${id}") { repairCycles repeatIssuesAfterRepair allocatable healthOverrides { source addedBy } } }`)).data!.machine;
    expect(m.repairCycles).toBe(3);
    expect(m.repeatIssuesAfterRepair).toBe(3);
    expect(m.healthOverrides.map((o: { source: string }) => o.source).sort()).toEqual(['out-for-repair', 'tenant-reported-issue']);
    expect(m.healthOverrides.find((o: { source: string }) => o.source === 'out-for-repair').addedBy).toBe('rule:repeat-offender');
    expect(m.allocatable).toBe(false);
  });

  it.each([
    ['Failed', { repair_status: 'Failed' }],
    ['InProgress', { repair_status: 'InProgress' }],
    ['no repair_status', null],
    ['garbage', { repair_status: '¯\\_(ツ)_/¯' }],
  ])('a repair released as %s removes repair-request, escalates with an OTHER issue, and never loops', async (_name, labels) => {
    const id = await reported();
    await repairAndRelease(id, labels as Record<string, string> | null);
    await waitFor(async () => (await machine(id)).healthOverrides.some((o) => o.issue?.category === 'OTHER'), 5_000, 'the escalation');
    const m = await machine(id);
    expect(m.healthOverrides.map((o) => o.source)).toEqual(['tenant-reported-issue']);
    expect(m.healthOverrides[0].issue).toEqual({ category: 'OTHER', summary: 'repair did not complete' });
    expect(m.allocatable).toBe(false);
    await new Promise((r) => setTimeout(r, 500)); // no repair loop: repair-request does not come back
    expect(await sources(id)).toEqual(['tenant-reported-issue']);
  });
});

describe('site config at run time', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('setSiteConfig switches auto-repair as an event: siteConfig says where the value came from, and the saga follows it', async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn', AUTO_MACHINE_REPAIR_ENABLED: 'false' }));
    expect((await gql(port, '{ siteConfig { autoMachineRepairEnabled source changedBy } }')).data!.siteConfig).toEqual({ autoMachineRepairEnabled: false, source: 'ENV', changedBy: null });
    const set = await gql(port, 'mutation { setSiteConfig(input: { autoMachineRepairEnabled: true }) { autoMachineRepairEnabled source changedBy changedAt } }');
    expect(set.data!.setSiteConfig).toMatchObject({ autoMachineRepairEnabled: true, source: 'RUNTIME', changedBy: expect.stringMatching(/^ADMIN:DRYDOCK_ADMIN_KEY/) });
    const tenant = (await gql(port, 'mutation { createApiKey(input: { role: TENANT, tenantId: "acme", name: "t" }) { key } }')).data!.createApiKey.key;
    await gql(port, 'mutation { registerMachines(input: { ids: ["sc-1"], phase: READY }) { id } }');
    const inst = (await gql(port, 'mutation { allocateInstance(input: { machineId: "sc-1", requestId: "r" }) { id } }', undefined, tenant)).data!.allocateInstance;
    await gql(port, `mutation { releaseInstance(input: { id: "${inst.id}", issue: { category: OTHER, summary: "odd" } }) { id } }`, undefined, tenant);
    await waitFor(async () => {
      const m = (await gql(port, '{ machine(id: "sc-1") { healthOverrides { source } } }')).data!.machine;
      return m.healthOverrides.some((o: { source: string }) => o.source === 'repair-request');
    }, 5_000, 'the saga to request repair under the runtime setting');
    // The runtime value survives a restart: it is in the log.
    server.child.kill('SIGTERM');
    await server.exited;
    ({ server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn', AUTO_MACHINE_REPAIR_ENABLED: 'false' }));
    expect((await gql(port, '{ siteConfig { autoMachineRepairEnabled source } }')).data!.siteConfig).toEqual({ autoMachineRepairEnabled: true, source: 'RUNTIME' });
  });
});
