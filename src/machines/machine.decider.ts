import { Decider, DomainEvent } from '../messaging/decider';
import { BadInputError, ConflictError, NotFoundError } from '../messaging/domain-errors';

export type MachinePhase = 'FACTORY_READY' | 'READY' | 'MAINTENANCE';
export type Labels = Record<string, string>;

export interface Capacity {
  cpuCores: number;
  memoryGiB: number;
}

export type MachineCommand =
  | {
      type: 'RegisterMachine';
      id: string;
      phase: 'FACTORY_READY' | 'READY';
      hypervisor: boolean;
      capacity: Capacity | null;
      labels: Labels;
      at: string;
    }
  | { type: 'SetMachineLabels'; id: string; labels: Labels; at: string };

export type MachineEvent =
  | DomainEvent<
      'MachineRegistered',
      { id: string; phase: MachinePhase; hypervisor: boolean; capacity: Capacity | null; labels: Labels; at: string }
    >
  | DomainEvent<'MachineLabelsChanged', { id: string; labels: Labels; at: string }>;

export interface MachineState {
  registered: boolean;
  id: string | null;
  phase: MachinePhase | null;
  hypervisor: boolean;
  capacity: Capacity | null;
  labels: Labels;
}

export const machineStream = (id: string) => `machine-${id}`;

const LABEL_KEY = /^[A-Za-z0-9_.\/-]{1,63}$/;

function checkLabels(labels: Labels): void {
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL_KEY.test(k)) throw new BadInputError(`labels.${k}`, 'a label key is 1-63 letters, digits, _ . / -');
    if (typeof v !== 'string' || v.length > 256) throw new BadInputError(`labels.${k}`, 'a label value is a string of at most 256 characters');
  }
}

export const machineDecider: Decider<MachineCommand, MachineEvent, MachineState> = {
  category: 'machine',
  initialState: { registered: false, id: null, phase: null, hypervisor: false, capacity: null, labels: {} },

  decide(command, state) {
    switch (command.type) {
      case 'RegisterMachine': {
        if (state.registered) throw new ConflictError(`machine ${command.id} is already registered`, { machineId: command.id });
        if (command.hypervisor && !command.capacity) throw new BadInputError('capacity', 'a hypervisor needs a capacity');
        checkLabels(command.labels);
        const { type: _t, ...data } = command;
        return [{ type: 'MachineRegistered', data }];
      }
      case 'SetMachineLabels': {
        if (!state.registered) throw new NotFoundError(`machine ${command.id} not found`, { machineId: command.id });
        checkLabels(command.labels);
        const same =
          Object.keys(command.labels).length === Object.keys(state.labels).length &&
          Object.entries(command.labels).every(([k, v]) => state.labels[k] === v);
        return same ? [] : [{ type: 'MachineLabelsChanged', data: { id: command.id, labels: command.labels, at: command.at } }];
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'MachineRegistered':
        return {
          registered: true,
          id: event.data.id,
          phase: event.data.phase,
          hypervisor: event.data.hypervisor,
          capacity: event.data.capacity,
          labels: event.data.labels,
        };
      case 'MachineLabelsChanged':
        return { ...state, labels: event.data.labels };
      default:
        return state;
    }
  },
};
