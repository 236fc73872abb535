import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Subject } from 'rxjs';
import { ANALYTICS_PROJECTIONS } from '../../projections';
import { countBy, drainsBy, operationsByType, repairFigures, repairsBy, repeatOffenders, timeInState, Window } from '../../src/analytics/analytics.rules';
import type { DrainEvent } from '../../src/drains/drain.decider';
import type { NewEvent } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import type { InstanceEvent } from '../../src/instances/instance.decider';
import type { MachineEvent } from '../../src/machines/machine.decider';
import type { DomainEvent } from '../../src/messaging/decider';
import { ProjectionRunner } from '../../src/messaging/projection-runner';
import { SqliteReadStore } from '../../src/read-store/sqlite/sqlite-read-store';
import { silentLogger, tempDir } from '../support/temp';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const h = (hours: number) => new Date(T0 + hours * 3_600_000).toISOString();
const quiet = { ...silentLogger, error: () => undefined };

type DataOf<E extends DomainEvent, T extends E['type']> = Extract<E, { type: T }>['data'];
/** Events typed by the deciders' own event types, so the scenario cannot drift from what the app writes. */
const machine = <T extends MachineEvent['type']>(type: T, data: DataOf<MachineEvent, T>) => ({ stream: `machine-${data.id}`, type, data });
const instance = <T extends InstanceEvent['type']>(type: T, data: DataOf<InstanceEvent, T>) => ({ stream: `instance-${data.id}`, type, data });
const drain = <T extends DrainEvent['type']>(type: T, data: DataOf<DrainEvent, T>) => ({ stream: `drain-${data.drainId}`, type, data });

const idle = { effectiveState: 'IDLE', allocatable: true } as const;
const taken = { effectiveState: 'IDLE', allocatable: false } as const;
const busy = { effectiveState: 'BUSY', allocatable: false } as const;
const attention = { effectiveState: 'ATTENTION', allocatable: false } as const;
type Derived = typeof idle | typeof taken | typeof busy | typeof attention;
const progress = (status: 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'CANCELED', totalVMs: number, completedVMs: number, failedVMs: number) => ({
  status,
  totalVMs,
  completedVMs,
  failedVMs,
  skippedVMs: 0,
  inFlight: 0,
  message: '',
});
const request = { parallel: true, maxConcurrent: 3, allowOffline: false, targetNode: null, deadline: null };
const override = (id: string, template: 'TENANT_REPORTED_ISSUE' | 'REQUEST_REPAIR', category: string, at: string, derived: Derived = taken) =>
  machine('HealthOverrideAdded', {
    id,
    source: template === 'REQUEST_REPAIR' ? 'repair-request' : 'tenant-reported-issue',
    template,
    classifications: ['PREVENT_ALLOCATIONS'],
    message: category,
    issue: { category, summary: category, details: null, tenantId: null },
    addedBy: 'test',
    at,
    ...derived,
  });
const removed = (id: string, source: string, at: string, derived: Derived = idle) =>
  machine('HealthOverrideRemoved', { id, source, reason: 'test', removedBy: 'test', at, ...derived });
const report = (instanceId: string, machineId: string, tenantId: string, category: 'HARDWARE' | 'NETWORK', at: string) =>
  instance('IssueReported', { id: instanceId, tenantId, machineId, purpose: 'TENANT', issue: { category, summary: 'x', details: null }, at });

/**
 * The hand-built fleet, times in hours after 2026-01-01:
 * - m1: acme reports HARDWARE at 2h; repair requested at 2h, claimed at 3h, completed at 5h (MTTR 3h).
 *   acme reports HARDWARE again at 10h; repair requested at 10h, still open.
 * - m2: globex reports NETWORK at 2h; repair requested at 2h, claimed at 4h, NOT completed at 8h.
 * - m3: an operator's repair request at 6h, withdrawn at 7h.
 * - operations: m3 REBOOTs 1h -> 1.5h (succeeded) and 2h -> 4h (failed, needs intervention); m2 REIMAGE canceled 3h -> 3.25h.
 * - drains: hv1 HARD 0h -> 1h completed, hv1 SOFT 2h -> 2.5h failed, hv2 HARD 3h -> 5h completed.
 */
const SCENARIO = [
  ...['m1', 'm2', 'm3'].map((id) => machine('MachineRegistered', { id, phase: 'READY', hypervisor: false, capacity: null, labels: {}, at: h(0), ...idle })),
  drain('DrainStarted', { drainId: 'd1', node: 'hv1', kind: 'DRAIN', undoes: null, vms: [], mode: 'HARD', ...request, at: h(0), progress: progress('IN_PROGRESS', 4, 0, 0) }),
  machine('MachineAssigned', { id: 'm1', instanceId: 'i1', tenantId: 'acme', purpose: 'TENANT', at: h(1), ...taken }),
  machine('OperationRequested', { id: 'm3', operationId: 'op1', operation: 'REBOOT', params: {}, requestId: 'r1', stages: [], at: h(1), ...busy }),
  drain('DrainFinished', { drainId: 'd1', status: 'COMPLETED', reason: null, at: h(1), progress: progress('COMPLETED', 4, 4, 0) }),
  machine('OperationSucceeded', { id: 'm3', operationId: 'op1', operation: 'REBOOT', at: h(1.5), ...idle }),
  report('i1', 'm1', 'acme', 'HARDWARE', h(2)),
  machine('MachineUnassigned', { id: 'm1', instanceId: 'i1', tenantId: 'acme', at: h(2), ...idle }),
  override('m1', 'TENANT_REPORTED_ISSUE', 'HARDWARE', h(2)),
  override('m1', 'REQUEST_REPAIR', 'HARDWARE', h(2)),
  report('i2', 'm2', 'globex', 'NETWORK', h(2)),
  override('m2', 'REQUEST_REPAIR', 'NETWORK', h(2)),
  machine('OperationRequested', { id: 'm3', operationId: 'op2', operation: 'REBOOT', params: {}, requestId: 'r2', stages: [], at: h(2), ...busy }),
  drain('DrainStarted', { drainId: 'd2', node: 'hv1', kind: 'DRAIN', undoes: null, vms: [], mode: 'SOFT', ...request, at: h(2), progress: progress('IN_PROGRESS', 2, 0, 0) }),
  drain('DrainFinished', { drainId: 'd2', status: 'FAILED', reason: 'no target', at: h(2.5), progress: progress('FAILED', 2, 1, 1) }),
  machine('MachineAssigned', { id: 'm1', instanceId: 'r-i1', tenantId: 'repair', purpose: 'REPAIR', at: h(3), ...taken }),
  machine('OperationRequested', { id: 'm2', operationId: 'op3', operation: 'REIMAGE', params: {}, requestId: 'r3', stages: [], at: h(3), ...busy }),
  drain('DrainStarted', { drainId: 'd3', node: 'hv2', kind: 'DRAIN', undoes: null, vms: [], mode: 'HARD', ...request, at: h(3), progress: progress('IN_PROGRESS', 1, 0, 0) }),
  machine('OperationCanceled', { id: 'm2', operationId: 'op3', operation: 'REIMAGE', reason: null, at: h(3.25), ...taken }),
  machine('MachineAssigned', { id: 'm2', instanceId: 'r-i2', tenantId: 'repair', purpose: 'REPAIR', at: h(4), ...taken }),
  machine('OperationFailed', { id: 'm3', operationId: 'op2', operation: 'REBOOT', stage: 'power', error: 'bmc', at: h(4), ...idle }),
  machine('MachineConditionChanged', { id: 'm3', condition: 'NEEDS_INTERVENTION', status: true, reason: 'REBOOT failed', at: h(4), ...attention }),
  machine('MachineUnassigned', { id: 'm1', instanceId: 'r-i1', tenantId: 'repair', at: h(5), ...taken }),
  machine('RepairOutcomeRecorded', { id: 'm1', repairStatus: 'completed', completed: true, cycle: 1, at: h(5) }),
  removed('m1', 'repair-request', h(5), taken),
  removed('m1', 'tenant-reported-issue', h(5)),
  drain('DrainFinished', { drainId: 'd3', status: 'COMPLETED', reason: null, at: h(5), progress: progress('COMPLETED', 1, 1, 0) }),
  override('m3', 'REQUEST_REPAIR', 'UNSPECIFIED', h(6), attention),
  removed('m3', 'repair-request', h(7), attention),
  machine('MachineUnassigned', { id: 'm2', instanceId: 'r-i2', tenantId: 'repair', at: h(8), ...taken }),
  machine('RepairOutcomeRecorded', { id: 'm2', repairStatus: 'parts on order', completed: false, cycle: 1, at: h(8) }),
  removed('m2', 'repair-request', h(8), taken),
  report('i3', 'm1', 'acme', 'HARDWARE', h(10)),
  override('m1', 'REQUEST_REPAIR', 'HARDWARE', h(10)),
];

describe('analytics projections, from a hand-built scenario', () => {
  const dir = tempDir();
  let events: SqliteEventStore;
  let read: SqliteReadStore;
  let runners: ProjectionRunner[];
  const docs = async (projection: string, collection: string) => {
    const r = runners.find((x) => x.name === projection)!;
    return (await read.find(r.collection(collection), {}, { sort: { _id: 1 } })) as any[];
  };

  beforeAll(async () => {
    events = new SqliteEventStore(join(dir.path, 'events.db'));
    read = new SqliteReadStore(join(dir.path, 'read.db'));
    for (const e of SCENARIO) {
      const recorded: NewEvent = {
        id: randomUUID(),
        type: e.type,
        data: e.data as unknown as Record<string, unknown>,
        metadata: { actor: 'test', correlationId: 'c', causationId: null, requestId: null, occurredAt: String(e.data.at), schemaVersion: 1 },
      };
      await events.append(e.stream, [recorded], 'any');
    }
    runners = ANALYTICS_PROJECTIONS.map((p) => new ProjectionRunner(p, events, read, { batchSize: 7, maxWaitMs: 0 }, quiet, new Subject()));
    for (const r of runners) await r.start();
    const head = await events.headPosition();
    await Promise.all(runners.map((r) => r.waitFor(head)));
  });
  afterAll(async () => {
    for (const r of runners) await r.stop();
    await read.close();
    await events.close();
    dir.cleanup();
  });

  const all: Window = { from: h(0), to: h(24) };

  it('repairs: outcomes and mean time to repair, overall, by category and by machine', async () => {
    const repairs = await docs('analytics_repairs', 'analytics_repairs');
    expect(repairs.map((r) => [r.machineId, r.category, r.outcome])).toEqual(
      expect.arrayContaining([
        ['m1', 'HARDWARE', 'COMPLETED'],
        ['m1', 'HARDWARE', null],
        ['m2', 'NETWORK', 'NOT_COMPLETED'],
        ['m3', 'UNSPECIFIED', 'WITHDRAWN'],
      ]),
    );
    const finished = repairs.filter((r) => r.finishedAt && r.finishedAt >= all.from && r.finishedAt < all.to);
    expect(repairFigures('all', finished)).toEqual({
      key: 'all',
      finished: 3,
      completed: 1,
      notCompleted: 1,
      withdrawn: 1,
      successRate: 1 / 3,
      meanTimeToRepairSeconds: 3 * 3600,
      meanTimeToClaimSeconds: 1.5 * 3600,
    });
    expect(repairsBy(finished, (d) => d.category).map((f) => [f.key, f.finished, f.meanTimeToRepairSeconds])).toEqual([
      ['HARDWARE', 1, 3 * 3600],
      ['NETWORK', 1, null],
      ['UNSPECIFIED', 1, null],
    ]);
    expect(repairsBy(finished, (d) => d.machineId).map((f) => [f.key, f.completed, f.notCompleted])).toEqual([
      ['m1', 1, 0],
      ['m2', 0, 1],
      ['m3', 0, 0],
    ]);
  });

  it('issue reports by category, tenant and machine, with the repeat offender', async () => {
    const reports = await docs('analytics_issue_reports', 'analytics_issue_reports');
    expect(countBy(reports, (d) => d.category)).toEqual([
      { key: 'HARDWARE', count: 2 },
      { key: 'NETWORK', count: 1 },
    ]);
    expect(countBy(reports, (d) => d.tenantId)).toEqual([
      { key: 'acme', count: 2 },
      { key: 'globex', count: 1 },
    ]);
    expect(repeatOffenders(reports, 2)).toEqual([{ machineId: 'm1', reports: 2, tenants: ['acme'], categories: ['HARDWARE'], firstReportedAt: h(2), lastReportedAt: h(10) }]);
    // A window that holds only the second report has no repeat offender.
    expect(repeatOffenders(reports.filter((r) => r.reportedAt >= h(9)), 2)).toEqual([]);
  });

  it('drains: durations and failure rates by mode and by node', async () => {
    const drains = await docs('analytics_drains', 'analytics_drains');
    expect(drainsBy(drains, (d) => d.mode)).toEqual([
      { key: 'HARD', started: 2, finished: 2, completed: 2, failed: 0, canceled: 0, failureRate: 0, meanDurationSeconds: 1.5 * 3600 },
      { key: 'SOFT', started: 1, finished: 1, completed: 0, failed: 1, canceled: 0, failureRate: 1, meanDurationSeconds: 0.5 * 3600 },
    ]);
    expect(drainsBy(drains, (d) => d.node).map((f) => [f.key, f.started, f.failureRate, f.meanDurationSeconds])).toEqual([
      ['hv1', 2, 0.5, 0.75 * 3600],
      ['hv2', 1, 0, 2 * 3600],
    ]);
  });

  it('operations: success rate and duration by type', async () => {
    const ops = await docs('analytics_operations', 'analytics_operations');
    expect(operationsByType(ops)).toEqual([
      { type: 'REBOOT', requested: 2, succeeded: 1, failed: 1, canceled: 0, successRate: 0.5, meanDurationSeconds: 1.25 * 3600 },
      { type: 'REIMAGE', requested: 1, succeeded: 0, failed: 0, canceled: 1, successRate: 0, meanDurationSeconds: 0.25 * 3600 },
    ]);
  });

  it('time each machine spent in each effective state, cut by the window', async () => {
    const intervals = (await docs('analytics_machine_states', 'analytics_machine_states')).filter((i) => i.machineId === 'm3');
    // m3: IDLE 0-1, BUSY 1-1.5 (reboot), IDLE 1.5-2, BUSY 2-4 (reboot), IDLE 4-4 (the failure, for no time), then
    // the failure needs intervention: ATTENTION from 4. Events that keep the state (the repair request at 6h and
    // its removal at 7h) open no interval.
    expect(intervals).toHaveLength(6);
    expect(timeInState(intervals, { from: h(0), to: h(12) }, h(100))).toEqual([
      { machineId: 'm3', state: 'ATTENTION', seconds: 8 * 3600 },
      { machineId: 'm3', state: 'BUSY', seconds: 2.5 * 3600 },
      { machineId: 'm3', state: 'IDLE', seconds: 1.5 * 3600 },
    ]);
    expect(timeInState(intervals, { from: h(3), to: h(5) }, h(100)).map((t) => [t.state, t.seconds / 3600])).toEqual([
      ['ATTENTION', 1],
      ['BUSY', 1],
    ]);
    // An open interval runs until now when now is inside the window.
    expect(timeInState(intervals, { from: h(10), to: h(24) }, h(11))).toEqual([{ machineId: 'm3', state: 'ATTENTION', seconds: 3600 }]);
    // m1 was never busy: its assignments and overrides do not change its effective state.
    const m1 = (await docs('analytics_machine_states', 'analytics_machine_states')).filter((i) => i.machineId === 'm1');
    expect(timeInState(m1, all, h(24))).toEqual([{ machineId: 'm1', state: 'IDLE', seconds: 24 * 3600 }]);
  });

  it.each(ANALYTICS_PROJECTIONS.map((p) => p.name))('%s: a rebuild gives the same read model, and the drift check agrees with it', async (name) => {
    const r = runners.find((x) => x.name === name)!;
    const [collection] = Object.keys(r.projection.collections);
    const before = await read.find(r.collection(collection), {}, { sort: { _id: 1 } });
    const generation = r.generation;
    await r.beginRebuild();
    await waitUntil(() => r.generation === generation + 1 && r.state === 'running' && r.progress() === null);
    expect(await read.find(r.collection(collection), {}, { sort: { _id: 1 } })).toEqual(before);
    expect(await r.verify()).toMatchObject({ ok: true, collections: [{ name: collection, liveDocuments: before.length, rebuiltDocuments: before.length, differences: 0 }] });

    // A document changed behind the projection's back is reported.
    const victim = before[0];
    await read.commit([{ op: 'updateOne', collection: r.collection(collection), filter: { _id: victim._id }, update: { $set: { tampered: true } } }]);
    const drift = await r.verify();
    expect(drift.ok).toBe(false);
    expect(drift.differences).toEqual([{ collection, id: victim._id, kind: 'DIFFERENT', live: { ...victim, tampered: true }, rebuilt: victim }]);
    await read.commit([{ op: 'updateOne', collection: r.collection(collection), filter: { _id: victim._id }, update: { $unset: { tampered: '' } } }]);

    // A document lost from the live model, and one the log never made, are reported too.
    await read.commit([
      { op: 'deleteOne', collection: r.collection(collection), filter: { _id: victim._id } },
      { op: 'insertOne', collection: r.collection(collection), doc: { _id: '~stray' } },
    ]);
    const lost = await r.verify();
    expect(lost.differences).toEqual([
      { collection, id: victim._id, kind: 'MISSING_IN_LIVE', live: null, rebuilt: victim },
      { collection, id: '~stray', kind: 'MISSING_IN_REBUILD', live: { _id: '~stray' }, rebuilt: null },
    ]);
    await read.commit([
      { op: 'deleteOne', collection: r.collection(collection), filter: { _id: '~stray' } },
      { op: 'insertOne', collection: r.collection(collection), doc: victim },
    ]);
    expect((await r.verify()).ok).toBe(true);
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
