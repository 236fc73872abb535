import { MachineEvent, machineDecider } from '../../src/machines/machine.decider';
import { BadInputError, ConflictError, NotFoundError } from '../../src/messaging/domain-errors';
import { given } from '../support/gwt';

const at = '2026-11-21T10:00:00.000Z';
const registered: MachineEvent = {
  type: 'MachineRegistered',
  data: { id: 'hv1', phase: 'READY', hypervisor: true, capacity: { cpuCores: 32, memoryGiB: 256 }, labels: { rack: 'r1' }, at, effectiveState: 'IDLE', allocatable: true },
};

describe('machine decider', () => {
  it('registering a new machine records MachineRegistered', () => {
    given(machineDecider)
      .when({ type: 'RegisterMachine', id: 'hv1', phase: 'READY', hypervisor: true, capacity: { cpuCores: 32, memoryGiB: 256 }, labels: { rack: 'r1' }, at })
      .then([registered]);
  });

  it('registering an existing machine is a conflict', () => {
    given(machineDecider, [registered])
      .when({ type: 'RegisterMachine', id: 'hv1', phase: 'READY', hypervisor: false, capacity: null, labels: {}, at })
      .thenThrows(ConflictError, /already registered/);
  });

  it('a hypervisor without capacity is bad input naming the field', () => {
    const err = given(machineDecider)
      .when({ type: 'RegisterMachine', id: 'hv2', phase: 'READY', hypervisor: true, capacity: null, labels: {}, at })
      .thenThrows(BadInputError);
    expect((err as BadInputError).field).toBe('capacity');
  });

  it('a malformed label key is bad input naming the label', () => {
    given(machineDecider)
      .when({ type: 'RegisterMachine', id: 'm1', phase: 'FACTORY_READY', hypervisor: false, capacity: null, labels: { 'bad key!': 'x' }, at })
      .thenThrows(BadInputError, /^labels\.bad key!/);
  });

  it('labels of an unknown machine are not found', () => {
    given(machineDecider).when({ type: 'SetMachineLabels', id: 'nope', labels: {}, at }).thenThrows(NotFoundError);
  });

  it('setting the labels a machine already has records nothing', () => {
    given(machineDecider, [registered]).when({ type: 'SetMachineLabels', id: 'hv1', labels: { rack: 'r1' }, at }).thenNothing();
  });

  it('changing labels records MachineLabelsChanged and evolve applies it', () => {
    const g = given(machineDecider, [registered]);
    g.when({ type: 'SetMachineLabels', id: 'hv1', labels: { rack: 'r2' }, at }).then([
      { type: 'MachineLabelsChanged', data: { id: 'hv1', labels: { rack: 'r2' }, at } },
    ]);
    const after = machineDecider.evolve(g.state, { type: 'MachineLabelsChanged', data: { id: 'hv1', labels: { rack: 'r2' }, at } });
    expect(after.labels).toEqual({ rack: 'r2' });
    expect(after.phase).toBe('READY');
  });
});
