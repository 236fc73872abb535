import { join } from 'node:path';
import { gql } from '../support/api-client';
import { ServerProcess, startReadyServer, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

const metric = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(name)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);

describe('health checks, recovery and metrics over the API', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({
      DATA_DIR: join(dir.path, 'data'),
      LOG_LEVEL: 'warn',
      HEALTH_INTERVAL_MS: '50',
      HEALTH_FAILURE_THRESHOLD: '2',
      HEALTH_RECOVERY_THRESHOLD: '1',
      RECOVERY_RETRY_INTERVAL_MS: '20',
      RECOVERY_MAX_RETRIES: '2',
      RECOVERY_STORM_MIN_UNHEALTHY: '50',
    }));
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('an unreachable machine is recorded, not allocatable, recovered, and escalated after the last failure; /metrics counts it all', async () => {
    const before = await (await fetch(`http://localhost:${port}/metrics`)).text();
    const r = await gql(port, 'mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }', { i: { ids: ['sick-1'], phase: 'READY', labels: { 'sim.health': 'fail', 'sim.recover': 'fail' } } });
    expect(r.errors).toBeUndefined();
    await waitFor(async () => (await gql(port, '{ recoveries(filter: { targetId: "sick-1" }) { status } }')).data!.recoveries[0]?.status === 'ESCALATED', 15_000, 'escalation');
    // The escalation is recorded first; the machine is then marked as needing intervention by a
    // command of its own, which the machines projection shows a moment later.
    const machine = async () => (await gql(port, '{ machine(id: "sick-1") { allocatable conditions { type status } healthOverrides { source } } }')).data!.machine;
    await waitFor(async () => (await machine()).conditions.some((c: { type: string; status: boolean }) => c.type === 'NEEDS_INTERVENTION' && c.status), 5_000, 'the machine marked as needing intervention');
    const m = await machine();
    expect(m.allocatable).toBe(false);
    expect(m.conditions).toEqual(expect.arrayContaining([{ type: 'REACHABLE', status: false }, { type: 'NEEDS_INTERVENTION', status: true }]));
    expect(m.healthOverrides.map((o: { source: string }) => o.source)).toContain('degraded');
    const rec = (await gql(port, '{ recoveries(filter: { targetId: "sick-1" }) { manual reason attempts { attempt outcome error } } }')).data!.recoveries[0];
    expect(rec).toMatchObject({ manual: false, reason: expect.stringMatching(/^unhealthy: 2 probes in a row failed/) });
    expect(rec.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['FAILED', 'FAILED']);
    const after = await (await fetch(`http://localhost:${port}/metrics`)).text();
    for (const name of ['drydock_health_probes_total', 'drydock_health_probe_failures_total', 'drydock_recovery_attempts_total', 'drydock_commands_total', 'drydock_event_append_duration_seconds_count']) {
      expect(metric(after, name)).toBeGreaterThan(metric(before, name));
    }
    expect(after).toMatch(/drydock_projection_lag_positions\{projection="machines"\} \d+/);
    expect(after).toMatch(/drydock_graphql_subscriptions_active \d+/);
  });

  it('an orphaned VM is detected with its reason; triggerRecovery recovers it on request', async () => {
    await gql(port, 'mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }', { i: { ids: ['hv-h'], phase: 'READY', hypervisor: true, capacity: { cpuCores: 8, memoryGiB: 32 } } });
    await gql(port, 'mutation($i: CreateVmInput!) { createVm(input: $i) { vmid } }', { i: { vmid: 77, name: 'gone', node: 'hv-h', tags: ['sim.health=process-gone'], cpuCores: 1, memoryGiB: 1 } });
    await waitFor(async () => (await gql(port, '{ vm(vmid: 77) { orphaned { reason } } }')).data!.vm.orphaned?.reason === 'PROCESS_GONE', 10_000, 'orphan');
    await waitFor(async () => (await gql(port, '{ vm(vmid: 77) { healthy } }')).data!.vm.healthy === true, 10_000, 'automatic recovery to heal it');
    const manual = await gql(port, 'mutation { triggerRecovery(input: { vmid: 77, reason: "check it again" }) { id manual status } }');
    expect(manual.errors).toBeUndefined();
    expect(manual.data!.triggerRecovery).toMatchObject({ manual: true });
    await waitFor(async () => (await gql(port, `{ recovery(id: "${manual.data!.triggerRecovery.id}") { status } }`)).data!.recovery.status === 'SUCCEEDED', 10_000, 'manual recovery');
    const text = await (await fetch(`http://localhost:${port}/metrics`)).text();
    expect(text).toMatch(/drydock_orphans_detected_total\{reason="PROCESS_GONE"\} 1/);
    const bad = await gql(port, 'mutation { triggerRecovery(input: { machineId: "sick-1", vmid: 77 }) { id } }');
    expect(bad.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('with health checks and recovery switched off', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('the app runs, probes nothing, and refuses triggerRecovery', async () => {
    const { server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn', HEALTH_ENABLED: 'false', RECOVERY_ENABLED: 'false' });
    try {
      await gql(port, 'mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }', { i: { ids: ['off-1'], phase: 'READY', labels: { 'sim.health': 'fail' } } });
      const fh = (await gql(port, '{ fleetHealth { healthChecks recovery autoRecoveryPaused unhealthyMachines } }')).data!.fleetHealth;
      expect(fh).toEqual({ healthChecks: false, recovery: false, autoRecoveryPaused: false, unhealthyMachines: 0 });
      const r = await gql(port, 'mutation { triggerRecovery(input: { machineId: "off-1" }) { id } }');
      expect(r.errors?.[0].extensions?.code).toBe('FAILED_PRECONDITION');
      expect(await (await fetch(`http://localhost:${port}/metrics`)).text()).not.toMatch(/^drydock_health_probes_total\{/m);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});

describe('events: the recorded history for auditors', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('filters by stream, category, type and correlation id, pages forwards and backwards by position, and is closed to tenants', async () => {
    const { server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn', HEALTH_ENABLED: 'false' });
    try {
      for (const id of ['ev-1', 'ev-2', 'ev-3']) await gql(port, `mutation { registerMachines(input: { ids: ["${id}"], phase: READY }) { id } }`);
      await gql(port, 'mutation { setMachineLabels(input: { machineId: "ev-2", labels: { rack: "r2" } }) { id } }');
      const q = 'query($f: EventFilter, $first: Int, $after: Position, $before: Position) { events(filter: $f, first: $first, after: $after, before: $before) { nodes { stream type position metadata { actor correlationId } } pageInfo { startCursor endCursor hasMore } } }';
      const byStream = (await gql(port, q, { f: { stream: 'machine-ev-2' } })).data!.events.nodes;
      expect(byStream.map((e: { type: string }) => e.type)).toEqual(['MachineRegistered', 'MachineLabelsChanged']);
      const registered = (await gql(port, q, { f: { category: 'machine', types: ['MachineRegistered'] } })).data!.events.nodes;
      expect(registered.map((e: { stream: string }) => e.stream)).toEqual(['machine-ev-1', 'machine-ev-2', 'machine-ev-3']);
      const corr = byStream[1].metadata.correlationId;
      expect((await gql(port, q, { f: { correlationId: corr } })).data!.events.nodes.map((e: { type: string }) => e.type)).toEqual(['MachineLabelsChanged']);
      const page1 = (await gql(port, q, { f: { category: 'machine' }, first: 2 })).data!.events;
      expect(page1.pageInfo.hasMore).toBe(true);
      const page2 = (await gql(port, q, { f: { category: 'machine' }, first: 2, after: page1.pageInfo.endCursor })).data!.events;
      expect(page2.nodes.map((e: { stream: string }) => e.stream)).toEqual(['machine-ev-3', 'machine-ev-2']);
      expect(page2.pageInfo.hasMore).toBe(false);
      const back = (await gql(port, q, { f: { category: 'machine' }, first: 2, before: page2.pageInfo.endCursor })).data!.events.nodes;
      expect(back.map((e: { stream: string }) => e.stream)).toEqual(['machine-ev-3', 'machine-ev-2']);
      // machineAt: before and after a blocking override, folded from the log.
      await new Promise((r) => setTimeout(r, 20));
      const beforeOverride = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 20));
      await gql(port, 'mutation { addHealthOverride(input: { machineId: "ev-2", template: DEGRADED, message: "fans" }) { id } }');
      const at = 'query($a: DateTime, $r: Int) { machineAt(id: "ev-2", asOf: $a, revision: $r) { revision allocatable notAllocatableBecause labels healthOverrides } }';
      expect((await gql(port, at, { a: beforeOverride })).data!.machineAt).toMatchObject({ revision: 1, allocatable: true, notAllocatableBecause: null, labels: { rack: 'r2' } });
      expect((await gql(port, at, { r: 0 })).data!.machineAt).toMatchObject({ revision: 0, labels: {} });
      const now = (await gql(port, at, { a: new Date().toISOString() })).data!.machineAt;
      expect(now).toMatchObject({ revision: 2, allocatable: false, notAllocatableBecause: 'health override degraded prevents allocations' });
      expect(now.healthOverrides.degraded).toMatchObject({ message: 'fans', addedBy: expect.stringMatching(/^ADMIN/) });
      const tenant = (await gql(port, 'mutation { createApiKey(input: { role: TENANT, tenantId: "t", name: "t" }) { key } }')).data!.createApiKey.key;
      expect((await gql(port, '{ events { nodes { id } } }', undefined, tenant)).errors?.[0].extensions?.code).toBe('FORBIDDEN');
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
