import { MachineEvent, machineDecider, MachineCommand } from '../../src/machines/machine.decider';
import { effectiveState } from '../../src/machines/machine.rules';
import { BadInputError, ConflictError, FailedPreconditionError } from '../../src/messaging/domain-errors';
import { fold } from '../../src/messaging/decider';
import { given } from '../support/gwt';

const at = '2026-11-21T10:00:00.000Z';
const registered = (phase: 'READY' | 'FACTORY_READY'): MachineEvent => ({
  type: 'MachineRegistered',
  data: { id: 'm1', phase, hypervisor: false, capacity: null, labels: {}, at, effectiveState: phase === 'READY' ? 'IDLE' : 'NEW', allocatable: phase === 'READY' },
});
const request = (operation: MachineCommand & { type: 'RequestOperation' } extends infer C ? C extends { operation: infer O } ? O : never : never, params: Record<string, unknown> = {}, operationId = 'op-1'): MachineCommand => ({
  type: 'RequestOperation', id: 'm1', operationId, operation, params, requestId: `r-${operationId}`, at,
});
/** Runs commands one after another, as the executor would, returning every event. */
function run(history: MachineEvent[], commands: MachineCommand[]): MachineEvent[] {
  const all = [...history];
  for (const c of commands) all.push(...machineDecider.decide(c, fold(machineDecider, all)));
  return all;
}
const stateAfter = (events: MachineEvent[]) => fold(machineDecider, events);
const inMaintenance = () =>
  run([registered('READY')], [
    request('ENTER_MAINTENANCE', {}, 'op-enter'),
    { type: 'CompleteStage', id: 'm1', operationId: 'op-enter', stage: 'cordon', log: [], at },
    { type: 'CompleteStage', id: 'm1', operationId: 'op-enter', stage: 'enter-maintenance', log: [], at },
  ]);

describe('machine operations (decider)', () => {
  it('REBOOT from FACTORY_READY is refused naming the phases it needs', () => {
    const err = given(machineDecider, [registered('FACTORY_READY')]).when(request('REBOOT')).thenThrows(FailedPreconditionError, /REBOOT needs phase READY or MAINTENANCE; machine m1 is FACTORY_READY/);
    expect((err as FailedPreconditionError).details.requiredPhase).toEqual(['READY', 'MAINTENANCE']);
  });

  it('REIMAGE needs MAINTENANCE', () => {
    given(machineDecider, [registered('READY')]).when(request('REIMAGE', { imageRef: 'img:1' })).thenThrows(FailedPreconditionError, /REIMAGE needs phase MAINTENANCE/);
  });

  it('EXIT_MAINTENANCE needs MAINTENANCE', () => {
    given(machineDecider, [registered('READY')]).when(request('EXIT_MAINTENANCE')).thenThrows(FailedPreconditionError, /needs phase MAINTENANCE/);
  });

  it('ENTER_MAINTENANCE is allowed from any phase', () => {
    for (const phase of ['READY', 'FACTORY_READY'] as const) {
      const [e] = machineDecider.decide(request('ENTER_MAINTENANCE'), stateAfter([registered(phase)]));
      expect(e.type).toBe('OperationRequested');
    }
  });

  it('a REIMAGE without imageRef is bad input naming the field', () => {
    const err = given(machineDecider, inMaintenance()).when(request('REIMAGE', {}, 'op-2')).thenThrows(BadInputError);
    expect((err as BadInputError).field).toBe('imageRef');
  });

  it('a second operation while one is active is a conflict naming the active one', () => {
    given(machineDecider, run([registered('READY')], [request('REBOOT')]))
      .when(request('REBOOT', {}, 'op-2'))
      .thenThrows(ConflictError, /already has an active operation: op-1 \(REBOOT\)/);
  });

  it('an operation makes the machine BUSY, and finishing its last stage succeeds it', () => {
    const events = run([registered('READY')], [request('REBOOT')]);
    expect(events[events.length - 1].data).toMatchObject({ effectiveState: 'BUSY', allocatable: false });
    const done = run(events, [
      { type: 'CompleteStage', id: 'm1', operationId: 'op-1', stage: 'power-cycle', log: ['off', 'on'], at },
      { type: 'CompleteStage', id: 'm1', operationId: 'op-1', stage: 'wait-for-boot', log: [], at },
    ]);
    expect(done.map((e) => e.type).slice(-3)).toEqual(['OperationStageSucceeded', 'OperationStageSucceeded', 'OperationSucceeded']);
    expect(done[done.length - 1].data).toMatchObject({ effectiveState: 'IDLE', allocatable: true });
  });

  it('ENTER_MAINTENANCE sets the phase MAINTENANCE when it succeeds, and EXIT sets READY', () => {
    expect(stateAfter(inMaintenance()).phase).toBe('MAINTENANCE');
    const out = run(inMaintenance(), [
      request('EXIT_MAINTENANCE', {}, 'op-exit'),
      { type: 'CompleteStage', id: 'm1', operationId: 'op-exit', stage: 'exit-maintenance', log: [], at },
      { type: 'CompleteStage', id: 'm1', operationId: 'op-exit', stage: 'uncordon', log: [], at },
    ]);
    expect(stateAfter(out).phase).toBe('READY');
  });

  it('a successful reimage sets PROVISIONED and REACHABLE', () => {
    const stages = ['set-netboot', 'reboot-to-netboot', 'repave-image', 'join-cluster', 'verify-in-cluster'];
    const out = run(inMaintenance(), [
      request('REIMAGE', { imageRef: 'img:2' }, 'op-re'),
      ...stages.map((stage) => ({ type: 'CompleteStage', id: 'm1', operationId: 'op-re', stage, log: [], at }) as MachineCommand),
    ]);
    const s = stateAfter(out);
    expect(s.conditions.PROVISIONED?.status).toBe(true);
    expect(s.conditions.REACHABLE?.status).toBe(true);
    expect(s.phase).toBe('MAINTENANCE');
  });

  it('a failed attempt that will be retried changes nothing else; the last failure fails the operation and sets NEEDS_INTERVENTION', () => {
    const retrying = run([registered('READY')], [
      request('REBOOT'),
      { type: 'FailStageAttempt', id: 'm1', operationId: 'op-1', stage: 'power-cycle', attempt: 1, error: 'bmc timeout', log: [], willRetry: true, at },
    ]);
    expect(stateAfter(retrying).active?.operationId).toBe('op-1');
    const failed = run(retrying, [{ type: 'FailStageAttempt', id: 'm1', operationId: 'op-1', stage: 'power-cycle', attempt: 2, error: 'bmc timeout', log: [], willRetry: false, at }]);
    const s = stateAfter(failed);
    expect(s.active).toBeNull();
    expect(s.phase).toBe('READY');
    expect(s.conditions.NEEDS_INTERVENTION).toMatchObject({ status: true, reason: 'REBOOT failed at power-cycle: bmc timeout' });
    expect(failed[failed.length - 1].data).toMatchObject({ effectiveState: 'ATTENTION', allocatable: false });
  });

  it('cancel ends the operation CANCELED, sets OPERATION_CANCELED, and leaves the phase alone', () => {
    const out = run(inMaintenance(), [request('REIMAGE', { imageRef: 'x' }, 'op-c'), { type: 'CancelOperation', id: 'm1', operationId: 'op-c', reason: null, at }]);
    const s = stateAfter(out);
    expect(s.operations['op-c'].outcome).toBe('CANCELED');
    expect(s.conditions.OPERATION_CANCELED?.status).toBe(true);
    expect(s.phase).toBe('MAINTENANCE');
  });

  it('a finished operation does not change: cancel, stage and failure are refused', () => {
    const done = run(inMaintenance(), []);
    for (const c of [
      { type: 'CancelOperation', id: 'm1', operationId: 'op-enter', reason: null, at },
      { type: 'CompleteStage', id: 'm1', operationId: 'op-enter', stage: 'cordon', log: [], at },
      { type: 'FailStageAttempt', id: 'm1', operationId: 'op-enter', stage: 'cordon', attempt: 1, error: 'x', log: [], willRetry: false, at },
    ] as MachineCommand[]) {
      given(machineDecider, done).when(c).thenThrows(FailedPreconditionError, /op-enter is SUCCEEDED/);
    }
  });
});

describe('effective state precedence', () => {
  const c = (type: 'RETIRED' | 'RMA' | 'NEEDS_INTERVENTION', status = true) => ({ type, status, reason: null, since: at });
  it('BLOCKED when RETIRED or RMA, above everything', () => {
    expect(effectiveState('MAINTENANCE', [c('RETIRED'), c('NEEDS_INTERVENTION')], true)).toBe('BLOCKED');
    expect(effectiveState('READY', [c('RMA')], false)).toBe('BLOCKED');
  });
  it('ATTENTION when NEEDS_INTERVENTION, above BUSY', () => expect(effectiveState('READY', [c('NEEDS_INTERVENTION')], true)).toBe('ATTENTION'));
  it('BUSY with an active operation, above MAINTENANCE', () => expect(effectiveState('MAINTENANCE', [], true)).toBe('BUSY'));
  it('MAINTENANCE by phase', () => expect(effectiveState('MAINTENANCE', [], false)).toBe('MAINTENANCE'));
  it('NEW when FACTORY_READY', () => expect(effectiveState('FACTORY_READY', [], false)).toBe('NEW'));
  it('IDLE otherwise, and a false condition counts for nothing', () => expect(effectiveState('READY', [c('RMA', false)], false)).toBe('IDLE'));
});
