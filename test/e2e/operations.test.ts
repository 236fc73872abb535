import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { collect, gql, wsClient } from '../support/api-client';
import { freePort, ServerProcess, startReadyServer, startServer, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

const ENV = { LOG_LEVEL: 'warn', OPERATIONS_STAGE_DELAY_MS: '5', OPERATIONS_RETRY_BACKOFF_MS: '30', OPERATIONS_MAX_ATTEMPTS: '3' };
let n = 0;
const OP = 'id machineId type phase currentStage error params stages { name phase attempts error }';

async function register(port: number, phase: 'READY' | 'FACTORY_READY', labels: Record<string, string> = {}): Promise<string> {
  const id = `op-m${++n}`;
  const r = await gql(port, 'mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }', { i: { ids: [id], phase, labels } });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return id;
}
const machine = async (port: number, id: string) => (await gql(port, `{ machine(id: "${id}") { phase effectiveState activeOperation allocatable conditions { type status reason } } }`)).data!.machine;
const operation = async (port: number, id: string) => (await gql(port, `{ operation(id: "${id}") { ${OP} } }`)).data!.operation;
async function request(port: number, kind: string, machineId: string, requestId: string, extra = '') {
  return gql(port, `mutation { ${kind}(input: { machineId: "${machineId}", requestId: "${requestId}"${extra} }) { ${OP} } }`);
}
async function finished(port: number, opId: string, phase = 'SUCCEEDED') {
  await waitFor(async () => (await operation(port, opId)).phase === phase, 10_000, `operation ${opId} to be ${phase}`);
  return operation(port, opId);
}
async function toMaintenance(port: number, id: string) {
  const r = await request(port, 'enterMaintenance', id, `enter-${id}`);
  await finished(port, r.data!.enterMaintenance.id);
}

describe('machines and lifecycle operations', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  const data = () => join(dir.path, 'data');

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: data(), ...ENV }));
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('effective state: NEW, IDLE, BUSY, MAINTENANCE and ATTENTION, each by its rule', async () => {
    const fresh = await register(port, 'FACTORY_READY');
    expect((await machine(port, fresh)).effectiveState).toBe('NEW');
    const ready = await register(port, 'READY', { 'sim.hang-stage': 'wait-for-boot' });
    expect(await machine(port, ready)).toMatchObject({ effectiveState: 'IDLE', allocatable: true });
    const busy = await request(port, 'rebootMachine', ready, 'busy-1');
    expect(await machine(port, ready)).toMatchObject({ effectiveState: 'BUSY', allocatable: false, activeOperation: busy.data!.rebootMachine.id });
    await gql(port, `mutation { cancelOperation(id: "${busy.data!.rebootMachine.id}") { phase } }`);
    const maint = await register(port, 'READY');
    await toMaintenance(port, maint);
    expect(await machine(port, maint)).toMatchObject({ phase: 'MAINTENANCE', effectiveState: 'MAINTENANCE' });
    const failing = await register(port, 'READY', { 'sim.fail-stage': 'power-cycle' });
    const f = await request(port, 'rebootMachine', failing, 'fail-1');
    await finished(port, f.data!.rebootMachine.id, 'FAILED');
    expect(await machine(port, failing)).toMatchObject({ phase: 'READY', effectiveState: 'ATTENTION', allocatable: false });
  });

  it.each([
    ['rebootMachine', 'FACTORY_READY', '', /REBOOT needs phase READY or MAINTENANCE/],
    ['reimageMachine', 'READY', ', imageRef: "img"', /REIMAGE needs phase MAINTENANCE/],
    ['exitMaintenance', 'READY', '', /EXIT_MAINTENANCE needs phase MAINTENANCE/],
  ] as const)('%s in phase %s is FAILED_PRECONDITION naming the phase, and appends nothing', async (kind, phase, extra, message) => {
    const id = await register(port, phase);
    const store = new SqliteEventStore(join(data(), 'events.db'));
    const before = await store.readStream(`machine-${id}`);
    const r = await request(port, kind, id, 'gate-1', extra);
    expect(r.errors![0].extensions).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect(r.errors![0].message).toMatch(message);
    expect(await store.readStream(`machine-${id}`)).toHaveLength(before.length);
    await store.close();
  });

  it('the same request again returns the same operation and starts no work; other parameters are a CONFLICT', async () => {
    const id = await register(port, 'READY');
    await toMaintenance(port, id);
    const first = await request(port, 'reimageMachine', id, 'same-1', ', imageRef: "img:1"');
    const again = await request(port, 'reimageMachine', id, 'same-1', ', imageRef: "img:1"');
    expect(again.data!.reimageMachine.id).toBe(first.data!.reimageMachine.id);
    await finished(port, first.data!.reimageMachine.id);
    const replay = await request(port, 'reimageMachine', id, 'same-1', ', imageRef: "img:1"');
    expect(replay.data!.reimageMachine).toMatchObject({ id: first.data!.reimageMachine.id, phase: 'SUCCEEDED' });
    const ops = (await gql(port, `{ operations(filter: { machineId: "${id}", type: REIMAGE }) { totalCount } }`)).data!.operations;
    expect(ops.totalCount).toBe(1);
    const other = await request(port, 'reimageMachine', id, 'same-1', ', imageRef: "img:2"');
    expect(other.errors![0].extensions!.code).toBe('CONFLICT');
  });

  it('of concurrent requests on one machine exactly one starts; the others are CONFLICT naming it', async () => {
    const id = await register(port, 'READY', { 'sim.delay-ms': '300' });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => request(port, 'rebootMachine', id, `race-${i}`)));
    const won = results.filter((r) => r.data?.rebootMachine);
    const lost = results.filter((r) => r.errors);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(7);
    const winner = won[0].data!.rebootMachine.id;
    for (const r of lost) {
      expect(r.errors![0].extensions).toMatchObject({ code: 'CONFLICT', activeOperationId: winner });
      expect(r.errors![0].message).toContain(winner);
    }
    await finished(port, winner);
  });

  it('cancel ends an operation CANCELED with OPERATION_CANCELED set, and a finished operation does not change', async () => {
    const id = await register(port, 'READY', { 'sim.hang-stage': 'power-cycle' });
    const op = (await request(port, 'rebootMachine', id, 'cancel-1')).data!.rebootMachine;
    await waitFor(async () => (await operation(port, op.id)).phase === 'RUNNING', 5_000, 'the stage to start');
    const canceled = await gql(port, `mutation { cancelOperation(id: "${op.id}") { phase error } }`);
    expect(canceled.data!.cancelOperation.phase).toBe('CANCELED');
    const m = await machine(port, id);
    expect(m).toMatchObject({ phase: 'READY', activeOperation: null });
    expect(m.conditions).toContainEqual(expect.objectContaining({ type: 'OPERATION_CANCELED', status: true }));
    const again = await gql(port, `mutation { cancelOperation(id: "${op.id}") { phase } }`);
    expect(again.errors![0].extensions!.code).toBe('FAILED_PRECONDITION');
    expect(again.errors![0].message).toMatch(/is CANCELED: a finished operation does not change/);
  });

  it('a failing stage is retried with backoff, then the operation FAILS and the machine needs intervention', async () => {
    const id = await register(port, 'READY', { 'sim.fail-stage': 'wait-for-boot' });
    const started = Date.now();
    const op = (await request(port, 'rebootMachine', id, 'retry-1')).data!.rebootMachine;
    const done = await finished(port, op.id, 'FAILED');
    expect(done.stages).toEqual([
      { name: 'power-cycle', phase: 'SUCCEEDED', attempts: 1, error: null },
      { name: 'wait-for-boot', phase: 'FAILED', attempts: 3, error: 'simulated failure of wait-for-boot (attempt 3)' },
    ]);
    expect(done.error).toBe('wait-for-boot: simulated failure of wait-for-boot (attempt 3)');
    expect(Date.now() - started).toBeGreaterThanOrEqual(30 + 60); // backoff 30 ms, then 60 ms
    const m = await machine(port, id);
    expect(m.conditions).toContainEqual(expect.objectContaining({ type: 'NEEDS_INTERVENTION', status: true }));
  });

  it('a stage that fails once succeeds on its second attempt', async () => {
    const id = await register(port, 'READY', { 'sim.fail-stage': 'power-cycle', 'sim.fail-times': '1' });
    const op = (await request(port, 'rebootMachine', id, 'retry-ok')).data!.rebootMachine;
    const done = await finished(port, op.id);
    expect(done.stages[0]).toMatchObject({ name: 'power-cycle', phase: 'SUCCEEDED', attempts: 2 });
  });

  it('operationEvents pushes every phase and stage change; operationLogs sends the log from the start, then live', async () => {
    const id = await register(port, 'READY', { 'sim.delay-ms': '50' });
    const client = wsClient(port);
    const events = collect(client, `subscription { operationEvents(machineId: "${id}") { event stage operation { phase } } }`);
    await new Promise((r) => setTimeout(r, 200));
    const op = (await request(port, 'rebootMachine', id, 'watch-1')).data!.rebootMachine;
    await waitFor(async () => (await operation(port, op.id)).stages[0].phase === 'SUCCEEDED', 5_000, 'the first stage');
    const logs = collect(client, `subscription { operationLogs(operationId: "${op.id}") { stage line } }`);
    await finished(port, op.id);
    await waitFor(() => events.messages.some((m: any) => m.operationEvents.event === 'OperationSucceeded'), 5_000, 'the success event');
    expect(events.messages.map((m: any) => `${m.operationEvents.event}${m.operationEvents.stage ? `:${m.operationEvents.stage}` : ''}`)).toEqual([
      'OperationRequested',
      'OperationStageStarted:power-cycle',
      'OperationStageSucceeded:power-cycle',
      'OperationStageStarted:wait-for-boot',
      'OperationStageSucceeded:wait-for-boot',
      'OperationSucceeded',
    ]);
    await waitFor(() => logs.messages.length >= 4, 5_000, 'all log lines');
    expect(logs.messages.map((m: any) => m.operationLogs.line)).toEqual([
      `[power-cycle] attempt 1 on ${id}: started`,
      '[power-cycle] done',
      `[wait-for-boot] attempt 1 on ${id}: started`,
      '[wait-for-boot] done',
    ]);
    events.unsubscribe();
    logs.unsubscribe();
    await client.dispose();
  });
});

describe('an operation interrupted by a crash', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('resumes after the restart from its last recorded stage, running no stage twice', async () => {
    const data = join(dir.path, 'data');
    const port = await freePort();
    const first = startServer({ DATA_DIR: data, ...ENV }, port);
    await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'readiness');
    let op: string;
    try {
      await gql(port, 'mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }', { i: { ids: ['crash-1'], phase: 'READY', labels: { 'sim.delay-ms': '250' } } });
      const enter = (await gql(port, 'mutation { enterMaintenance(input: { machineId: "crash-1", requestId: "e" }) { id } }')).data!.enterMaintenance.id;
      await waitFor(async () => (await operation(port, enter)).phase === 'SUCCEEDED', 10_000, 'maintenance');
      op = (await gql(port, 'mutation { reimageMachine(input: { machineId: "crash-1", requestId: "r", imageRef: "img" }) { id } }')).data!.reimageMachine.id;
      await waitFor(async () => (await operation(port, op)).stages[1].phase === 'RUNNING', 10_000, 'the second stage');
    } finally {
      first.child.kill('SIGKILL');
      await first.exited;
    }

    const second = startServer({ DATA_DIR: data, ...ENV }, port);
    try {
      await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'readiness again');
      await waitFor(async () => (await operation(port, op)).phase === 'SUCCEEDED', 15_000, 'the resumed operation');
      const store = new SqliteEventStore(join(data, 'events.db'));
      const events = (await store.readStream('machine-crash-1')).filter((e) => e.data.operationId === op);
      await store.close();
      const succeeded = events.filter((e) => e.type === 'OperationStageSucceeded').map((e) => e.data.stage);
      expect(succeeded).toEqual(['set-netboot', 'reboot-to-netboot', 'repave-image', 'join-cluster', 'verify-in-cluster']);
      expect(events.filter((e) => e.type === 'OperationSucceeded')).toHaveLength(1);
      const conditions = (await gql(port, '{ machine(id: "crash-1") { conditions { type status } } }')).data!.machine.conditions;
      expect(conditions).toEqual(expect.arrayContaining([{ type: 'PROVISIONED', status: true }, { type: 'REACHABLE', status: true }]));
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
