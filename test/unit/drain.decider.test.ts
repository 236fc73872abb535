import { DrainCommand, DrainEvent, drainDecider, DrainVm } from '../../src/drains/drain.decider';
import { vmDecider, VmEvent } from '../../src/drains/vm.decider';
import { MachineEvent, machineDecider } from '../../src/machines/machine.decider';
import { fold } from '../../src/messaging/decider';
import { BadInputError, ConflictError, FailedPreconditionError, NotFoundError } from '../../src/messaging/domain-errors';
import { given } from '../support/gwt';

const at = '2026-11-21T10:00:00.000Z';
const later = '2026-11-21T10:05:00.000Z';
const D = 'd-1';
const vmIn = (vmid: number, status: DrainVm['status'] = 'PENDING'): DrainVm => ({
  vmid,
  name: `vm${vmid}`,
  cpuCores: 2,
  memoryGiB: 8,
  tags: [],
  sourceNode: 'hv1',
  targetNode: null,
  migrationType: status === 'SKIPPED' ? null : 'ONLINE',
  status,
  error: status === 'SKIPPED' ? 'maint-ok' : null,
  startedAt: null,
  finishedAt: null,
});
const start = (vms: DrainVm[], over: Partial<Extract<DrainCommand, { type: 'StartDrain' }>> = {}): DrainCommand => ({
  type: 'StartDrain',
  drainId: D,
  node: 'hv1',
  kind: 'DRAIN',
  undoes: null,
  vms,
  mode: 'SOFT',
  parallel: true,
  maxConcurrent: 2,
  allowOffline: false,
  targetNode: null,
  deadline: null,
  at,
  ...over,
});

/** Runs commands one after another from an empty drain, returning every event. */
function run(commands: DrainCommand[]): DrainEvent[] {
  const events: DrainEvent[] = [];
  for (const c of commands) events.push(...drainDecider.decide(c, fold(drainDecider, events)));
  return events;
}
const migrate = (vmid: number, targetNode = 'hv2'): DrainCommand => ({ type: 'StartVmMigration', drainId: D, vmid, targetNode, at });
const complete = (vmid: number): DrainCommand => ({ type: 'CompleteVmMigration', drainId: D, vmid, restarted: false, at });
const fail = (vmid: number): DrainCommand => ({ type: 'FailVmMigration', drainId: D, vmid, error: 'No suitable target node found: x', at });
const finish: DrainCommand = { type: 'FinishDrain', drainId: D, at: later };

describe('drain decider', () => {
  it('a drain starts with its plan, the skipped VMs counted at once', () => {
    const [e] = run([start([vmIn(1), vmIn(2, 'SKIPPED')])]);
    expect(e.type).toBe('DrainStarted');
    expect(e.data.progress).toEqual({ totalVMs: 2, completedVMs: 0, failedVMs: 0, skippedVMs: 1, inFlight: 0, status: 'IN_PROGRESS', message: 'Progress: 0/2 completed, 1 skipped' });
  });

  it('starting a started drain again records nothing (a resumed start)', () => {
    given(drainDecider, run([start([vmIn(1)])])).when(start([vmIn(1), vmIn(9)])).thenNothing();
  });

  it('never more migrations in flight than maxConcurrent', () => {
    const history = run([start([vmIn(1), vmIn(2), vmIn(3)]), migrate(1), migrate(2)]);
    given(drainDecider, history).when(migrate(3)).thenThrows(FailedPreconditionError, /already has 2 migrations in flight \(at most 2\)/);
    const afterOne = run([start([vmIn(1), vmIn(2), vmIn(3)]), migrate(1), migrate(2), complete(1), migrate(3)]);
    expect(afterOne[afterOne.length - 1].data.progress.inFlight).toBe(2);
  });

  it('parallel false means one migration at a time, whatever maxConcurrent says', () => {
    const history = run([start([vmIn(1), vmIn(2)], { parallel: false, maxConcurrent: 10 }), migrate(1)]);
    given(drainDecider, history).when(migrate(2)).thenThrows(FailedPreconditionError, /at most 1/);
  });

  it('completes when every VM is completed or skipped, with a summary', () => {
    const events = run([start([vmIn(1), vmIn(2, 'SKIPPED')]), migrate(1), complete(1), finish]);
    const last = events[events.length - 1];
    expect(last).toMatchObject({ type: 'DrainFinished', data: { status: 'COMPLETED', reason: null } });
    expect(last.data.progress.message).toBe('Completed: 1/2 completed, 1 skipped');
  });

  it('fails when any VM failed, saying which and why', () => {
    const events = run([start([vmIn(1), vmIn(2)]), migrate(1), complete(1), fail(2), finish]);
    expect(events[events.length - 1].data).toMatchObject({ status: 'FAILED', reason: 'VM 2: No suitable target node found: x' });
  });

  it('cannot finish while VMs are in flight or not yet migrated', () => {
    given(drainDecider, run([start([vmIn(1)]), migrate(1)])).when(finish).thenThrows(FailedPreconditionError, /in flight/);
    given(drainDecider, run([start([vmIn(1)])])).when(finish).thenThrows(FailedPreconditionError, /not yet migrated/);
  });

  it('a cancel stops new migrations; the drain ends CANCELED once running ones finish', () => {
    const history = run([start([vmIn(1), vmIn(2), vmIn(3)]), migrate(1), { type: 'CancelDrain', drainId: D, by: 'operator:alice', at }]);
    given(drainDecider, history).when(migrate(2)).thenThrows(FailedPreconditionError, /starts no new migrations: canceled by operator:alice/);
    given(drainDecider, history).when(finish).thenThrows(FailedPreconditionError, /in flight/);
    const events = run([start([vmIn(1), vmIn(2), vmIn(3)]), migrate(1), { type: 'CancelDrain', drainId: D, by: 'operator:alice', at }, complete(1), finish]);
    expect(events[events.length - 1].data).toMatchObject({ status: 'CANCELED', reason: 'canceled by operator:alice; 2 VMs not started' });
  });

  it('a finished drain cannot be canceled', () => {
    given(drainDecider, run([start([]), finish]))
      .when({ type: 'CancelDrain', drainId: D, by: 'x', at })
      .thenThrows(FailedPreconditionError, /is COMPLETED/);
  });

  it('past its deadline a drain starts nothing and ends FAILED with the reason', () => {
    const history = run([start([vmIn(1), vmIn(2)], { deadline: '2026-11-21T10:01:00.000Z' })]);
    given(drainDecider, history).when({ type: 'StartVmMigration', drainId: D, vmid: 1, targetNode: 'hv2', at: later }).thenThrows(FailedPreconditionError, /past its deadline/);
    given(drainDecider, history).when({ type: 'PassDeadline', drainId: D, at }).thenThrows(FailedPreconditionError, /has not passed/);
    const events = run([start([vmIn(1), vmIn(2)], { deadline: '2026-11-21T10:01:00.000Z' }), { type: 'PassDeadline', drainId: D, at: later }, finish]);
    expect(events[events.length - 1].data).toMatchObject({ status: 'FAILED', reason: 'deadline 2026-11-21T10:01:00.000Z passed; 2 VMs not started' });
  });

  it('an unknown drain is not found', () => {
    given(drainDecider).when({ type: 'CancelDrain', drainId: 'nope', by: 'x', at }).thenThrows(NotFoundError);
  });
});

describe('node drains and maintenance (machine decider)', () => {
  const hv: MachineEvent = {
    type: 'MachineRegistered',
    data: { id: 'hv1', phase: 'READY', hypervisor: true, capacity: { cpuCores: 32, memoryGiB: 256 }, labels: {}, at, effectiveState: 'IDLE', allocatable: true },
  };
  const request = { mode: 'SOFT' as const, parallel: true, maxConcurrent: 3, allowOffline: false, targetNode: null, deadline: null };
  const began: MachineEvent = { type: 'NodeDrainBegan', data: { id: 'hv1', drainId: 'd-1', kind: 'DRAIN', request, at } };

  it('one active drain per node: a second is a conflict naming the active one', () => {
    given(machineDecider, [hv, began])
      .when({ type: 'BeginDrain', id: 'hv1', drainId: 'd-2', kind: 'DRAIN', request, at })
      .thenThrows(ConflictError, /already has an active drain: d-1/);
    given(machineDecider, [hv, began]).when({ type: 'BeginDrain', id: 'hv1', drainId: 'd-1', kind: 'DRAIN', request, at }).thenNothing();
  });

  it('an undrain needs a finished drain to undo, and the node out of maintenance', () => {
    given(machineDecider, [hv]).when({ type: 'BeginDrain', id: 'hv1', drainId: 'u-1', kind: 'UNDRAIN', request, at }).thenThrows(FailedPreconditionError, /no drain to undo/);
    const ended: MachineEvent = { type: 'NodeDrainEnded', data: { id: 'hv1', drainId: 'd-1', kind: 'DRAIN', status: 'COMPLETED', at } };
    const inMaintenance: MachineEvent = { type: 'NodeMaintenanceEnabled', data: { id: 'hv1', reason: 'bios', at, effectiveState: 'MAINTENANCE', allocatable: false } };
    given(machineDecider, [hv, began, ended, inMaintenance])
      .when({ type: 'BeginDrain', id: 'hv1', drainId: 'u-1', kind: 'UNDRAIN', request, at })
      .thenThrows(FailedPreconditionError, /is in maintenance/);
    expect(machineDecider.decide({ type: 'BeginDrain', id: 'hv1', drainId: 'u-1', kind: 'UNDRAIN', request, at }, fold(machineDecider, [hv, began, ended]))).toHaveLength(1);
  });

  it('maintenance mode makes a node MAINTENANCE and not allocatable (no new placements)', () => {
    given(machineDecider, [hv])
      .when({ type: 'EnableNodeMaintenance', id: 'hv1', reason: 'firmware', at })
      .then([{ type: 'NodeMaintenanceEnabled', data: { id: 'hv1', reason: 'firmware', at, effectiveState: 'MAINTENANCE', allocatable: false } }]);
  });

  it('only hypervisors drain or go into node maintenance', () => {
    const plain: MachineEvent = { type: 'MachineRegistered', data: { ...(hv.data as Extract<MachineEvent, { type: 'MachineRegistered' }>['data']), id: 'm1', hypervisor: false } };
    given(machineDecider, [plain]).when({ type: 'EnableNodeMaintenance', id: 'm1', reason: 'x', at }).thenThrows(FailedPreconditionError, /not a hypervisor/);
  });
});

describe('vm decider', () => {
  const created: VmEvent = { type: 'VmCreated', data: { vmid: 8200, name: 'db', node: 'hv1', tags: ['always-on'], status: 'running', cpuCores: 2, memoryGiB: 8, at } };

  it('tags are a set: duplicates dropped, order does not matter', () => {
    given(vmDecider, [created]).when({ type: 'SetVmTags', vmid: 8200, tags: ['maint-ok', 'always-on', 'maint-ok'], at }).then([
      { type: 'VmTagsChanged', data: { vmid: 8200, tags: ['always-on', 'maint-ok'], at } },
    ]);
    given(vmDecider, [created]).when({ type: 'SetVmTags', vmid: 8200, tags: ['always-on', 'always-on'], at }).thenNothing();
  });

  it('a malformed tag is bad input naming tags', () => {
    const err = given(vmDecider, [created]).when({ type: 'SetVmTags', vmid: 8200, tags: ['ok', 'not ok'], at }).thenThrows(BadInputError);
    expect((err as BadInputError).field).toBe('tags');
  });

  it('an always-on VM is never migrated offline', () => {
    given(vmDecider, [created])
      .when({ type: 'MoveVm', vmid: 8200, from: 'hv1', to: 'hv2', migrationType: 'OFFLINE', drainId: 'd', at })
      .thenThrows(FailedPreconditionError, /never migrated offline/);
  });

  it('a move from the wrong node is refused: someone else moved it', () => {
    given(vmDecider, [created])
      .when({ type: 'MoveVm', vmid: 8200, from: 'hv9', to: 'hv2', migrationType: 'ONLINE', drainId: 'd', at })
      .thenThrows(FailedPreconditionError, /moved by someone else/);
  });

  it('a move already recorded records nothing again', () => {
    const moved: VmEvent = { type: 'VmMigrated', data: { vmid: 8200, from: 'hv1', to: 'hv2', migrationType: 'ONLINE', drainId: 'd', cpuCores: 2, memoryGiB: 8, at } };
    given(vmDecider, [created, moved]).when({ type: 'MoveVm', vmid: 8200, from: 'hv1', to: 'hv2', migrationType: 'ONLINE', drainId: 'd', at }).thenNothing();
  });

  it('vmids are not reused, even after a delete', () => {
    const deleted: VmEvent = { type: 'VmDeleted', data: { vmid: 8200, node: 'hv1', cpuCores: 2, memoryGiB: 8, at } };
    given(vmDecider, [created, deleted])
      .when({ type: 'CreateVm', vmid: 8200, name: 'db', node: 'hv1', tags: [], status: 'running', cpuCores: 2, memoryGiB: 8, at })
      .thenThrows(ConflictError, /not reused/);
  });
});
