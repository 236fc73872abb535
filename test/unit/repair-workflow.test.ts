import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { repairWorkflowSaga } from '../../sagas/repair-workflow.saga';
import { RecordedEvent } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { derive, MachineCommand, machineDecider, MachineEvent } from '../../src/machines/machine.decider';
import { CommandPipeline } from '../../src/messaging/command-pipeline';
import { fold } from '../../src/messaging/decider';
import { SagaRunner } from '../../src/messaging/saga-runner';
import { SqliteReadStore } from '../../src/read-store/sqlite/sqlite-read-store';
import { silentLogger, tempDir } from '../support/temp';

const at = '2026-11-21T10:00:00.000Z';
const later = (hours: number) => new Date(Date.parse(at) + hours * 3_600_000).toISOString();
const registered: MachineEvent = {
  type: 'MachineRegistered',
  data: { id: 'm1', phase: 'READY', hypervisor: false, capacity: null, labels: {}, at, effectiveState: 'IDLE', allocatable: true },
};
function run(history: MachineEvent[], commands: MachineCommand[]): MachineEvent[] {
  const all = [...history];
  for (const c of commands) all.push(...machineDecider.decide(c, fold(machineDecider, all)));
  return all;
}
const add = (template: 'DEGRADED' | 'VALIDATION' | 'REQUEST_REPAIR' | 'OUT_FOR_REPAIR', message = 'm', by = 'operator:a'): MachineCommand => ({
  type: 'AddHealthOverride', id: 'm1', template, message, issue: null, by, at,
});

describe('health overrides (decider)', () => {
  it('an override with PREVENT_ALLOCATIONS makes the machine not allocatable; one without does not', () => {
    expect(derive(fold(machineDecider, run([registered], [add('DEGRADED')]))).allocatable).toBe(false);
    expect(derive(fold(machineDecider, run([registered], [add('VALIDATION')]))).allocatable).toBe(true);
  });

  it('adding an override replaces the one with the same source', () => {
    const s = fold(machineDecider, run([registered], [add('DEGRADED', 'first'), add('DEGRADED', 'second')]));
    expect(Object.keys(s.overrides)).toEqual(['degraded']);
    expect(s.overrides.degraded).toMatchObject({ message: 'second', addedBy: 'operator:a', classifications: ['PREVENT_ALLOCATIONS', 'SUPPRESS_EXTERNAL_ALERTING'] });
  });

  it('removal records who removed it and why', () => {
    const events = run([registered], [add('DEGRADED'), { type: 'RemoveHealthOverride', id: 'm1', source: 'degraded', reason: 'fixed the fan', by: 'operator:b', at }]);
    expect(events[events.length - 1].data).toMatchObject({ source: 'degraded', reason: 'fixed the fan', removedBy: 'operator:b', allocatable: true });
  });

  it('automation cannot request repair of a machine out for repair; an operator can', () => {
    const out = run([registered], [add('OUT_FOR_REPAIR')]);
    expect(machineDecider.decide(add('REQUEST_REPAIR', 'auto', 'saga:repair-workflow'), fold(machineDecider, out))).toEqual([]);
    expect(machineDecider.decide(add('REQUEST_REPAIR', 'manual', 'operator:a'), fold(machineDecider, out))).toHaveLength(1);
  });

  it('an issue inside the window after a completed repair counts as a repeat; outside it does not', () => {
    const policy = { windowMs: 24 * 3_600_000, maxRepeats: 5 };
    const base = run([registered], [
      { type: 'RecordRepairOutcome', id: 'm1', repairStatus: 'Completed', completed: true, at },
      { type: 'AssignInstance', id: 'm1', instanceId: 'i1', tenantId: 't', purpose: 'TENANT', at },
    ]);
    const issue = { category: 'HARDWARE', summary: 's', details: null };
    const soon = run(base, [{ type: 'UnassignInstance', id: 'm1', instanceId: 'i1', issue, repeatPolicy: policy, at: later(2) }]);
    expect(soon.some((e) => e.type === 'RepeatIssueAfterRepair')).toBe(true);
    const late = run(base, [{ type: 'UnassignInstance', id: 'm1', instanceId: 'i1', issue, repeatPolicy: policy, at: later(48) }]);
    expect(late.some((e) => e.type === 'RepeatIssueAfterRepair')).toBe(false);
  });
});

function recorded(type: string, data: Record<string, unknown>): RecordedEvent {
  return {
    id: randomUUID(),
    stream: 'instance-x',
    revision: 1,
    position: 10,
    type,
    data,
    recordedAt: at,
    metadata: { actor: 'TENANT:t', correlationId: 'c-1', causationId: null, requestId: null, occurredAt: at, schemaVersion: 1 },
  };
}
const commandsOf = async (autoRepair: boolean, e: RecordedEvent) =>
  (await repairWorkflowSaga(() => autoRepair).handlers[e.type](e)).map((c) => {
    const cmd = c.command as { type: string; template?: string; source?: string; issue?: { category: string; summary: string } | null };
    return [cmd.type, cmd.template ?? cmd.source ?? '', cmd.issue?.category ?? ''].filter(Boolean).join(' ');
  });

describe('repair-workflow saga (events in, commands out)', () => {
  const report = (purpose: string) => recorded('IssueReported', { machineId: 'm1', purpose, tenantId: 't', issue: { category: 'HARDWARE', summary: 's', details: null } });
  const repairReleased = (labels: Record<string, string>, issue: unknown = null) => recorded('InstanceReleased', { machineId: 'm1', purpose: 'REPAIR', labels, issue });

  it('a tenant issue asks for repair when auto-repair is on, and not when off', async () => {
    expect(await commandsOf(true, report('TENANT'))).toEqual(['AddHealthOverride REQUEST_REPAIR HARDWARE']);
    expect(await commandsOf(false, report('TENANT'))).toEqual([]);
  });

  it('a repair tenant’s issue never asks for repair again', async () => {
    expect(await commandsOf(true, report('REPAIR'))).toEqual([]);
  });

  it('Completed: both overrides removed', async () => {
    expect(await commandsOf(true, repairReleased({ repair_status: 'COMPLETED' }))).toEqual([
      'RecordRepairOutcome',
      'RemoveHealthOverride repair-request',
      'RemoveHealthOverride tenant-reported-issue',
    ]);
  });

  it('Completed with a new issue: repair-request removed, the new issue reported', async () => {
    expect(await commandsOf(true, repairReleased({ repair_status: 'Completed' }, { category: 'NETWORK', summary: 'x', details: null }))).toEqual([
      'RecordRepairOutcome',
      'RemoveHealthOverride repair-request',
      'AddHealthOverride TENANT_REPORTED_ISSUE NETWORK',
    ]);
  });

  it('anything else: repair-request removed, an OTHER issue escalated', async () => {
    const cases: Array<Record<string, string>> = [{ repair_status: 'Failed' }, { repair_status: 'InProgress' }, {}, { repair_status: '???' }];
    for (const labels of cases) {
      expect(await commandsOf(true, repairReleased(labels))).toEqual(['RecordRepairOutcome', 'RemoveHealthOverride repair-request', 'AddHealthOverride TENANT_REPORTED_ISSUE OTHER']);
    }
  });

  it('a tenant release is not a repair outcome', async () => {
    expect(await commandsOf(true, recorded('InstanceReleased', { machineId: 'm1', purpose: 'TENANT', labels: {}, issue: null }))).toEqual([]);
  });

  it('delivered twice, a repair outcome acts once', async () => {
    const dir = tempDir();
    const events = new SqliteEventStore(join(dir.path, 'events.db'));
    const read = new SqliteReadStore(join(dir.path, 'read.db'));
    const pipeline = new CommandPipeline(events, silentLogger);
    const ctx = { actor: 'op', correlationId: 'c', issuedAt: at };
    await pipeline.run(machineDecider, 'machine-m1', { type: 'RegisterMachine', id: 'm1', phase: 'READY', hypervisor: false, capacity: null, labels: {}, at }, ctx);
    await pipeline.run(machineDecider, 'machine-m1', add('REQUEST_REPAIR'), ctx);
    const runner = new SagaRunner(repairWorkflowSaga(() => true), events, read, (c, context) => pipeline.run(c.decider, c.stream, c.command, context), { batchSize: 10, maxWaitMs: 0 }, { ...silentLogger, error: () => undefined });
    const e = repairReleased({ repair_status: 'Failed' });
    await runner.handle(e);
    const once = await events.readStream('machine-m1');
    await runner.handle(e);
    expect(await events.readStream('machine-m1')).toHaveLength(once.length);
    expect(once.map((x) => x.type).slice(-3)).toEqual(['RepairOutcomeRecorded', 'HealthOverrideRemoved', 'HealthOverrideAdded']);
    await read.close();
    await events.close();
    dir.cleanup();
  });
});
