import type { DrainRequest } from '../drains/drain.decider';
import type { DrainKind, DrainStatus } from '../drains/drain.rules';
import { Decider, DomainEvent } from '../messaging/decider';
import { BadInputError, ConflictError, FailedPreconditionError, NotFoundError } from '../messaging/domain-errors';
import { HealthOverride, issueMessage, OverrideTemplate, preventsAllocation, REPAIR_REQUEST, TEMPLATES } from '../health/overrides';
import { checkLabels, MACHINE_LABEL_VALUE_MAX } from './labels';
import { Condition, ConditionType, EffectiveState, effectiveState } from './machine.rules';

export const MACHINE_PHASES = ['FACTORY_READY', 'READY', 'MAINTENANCE'] as const;
export type MachinePhase = (typeof MACHINE_PHASES)[number];
export type Labels = Record<string, string>;
export type OperationType = 'REBOOT' | 'REIMAGE' | 'ENTER_MAINTENANCE' | 'EXIT_MAINTENANCE';

export interface Capacity {
  cpuCores: number;
  memoryGiB: number;
}

/** The stages each operation runs through, in order. */
export const STAGES: Record<OperationType, readonly string[]> = {
  REBOOT: ['power-cycle', 'wait-for-boot'],
  REIMAGE: ['set-netboot', 'reboot-to-netboot', 'repave-image', 'join-cluster', 'verify-in-cluster'],
  ENTER_MAINTENANCE: ['cordon', 'enter-maintenance'],
  EXIT_MAINTENANCE: ['exit-maintenance', 'uncordon'],
};

/** The phases an operation may start from. */
const ALLOWED_PHASES: Record<OperationType, readonly MachinePhase[]> = {
  REBOOT: ['READY', 'MAINTENANCE'],
  REIMAGE: ['MAINTENANCE'],
  ENTER_MAINTENANCE: ['FACTORY_READY', 'READY', 'MAINTENANCE'],
  EXIT_MAINTENANCE: ['MAINTENANCE'],
};

export type MachineCommand =
  | { type: 'RegisterMachine'; id: string; phase: 'FACTORY_READY' | 'READY'; hypervisor: boolean; capacity: Capacity | null; labels: Labels; at: string }
  | { type: 'SetMachineLabels'; id: string; labels: Labels; at: string }
  | { type: 'RequestOperation'; id: string; operationId: string; operation: OperationType; params: Record<string, unknown>; requestId: string; at: string }
  | { type: 'StartStage'; id: string; operationId: string; stage: string; attempt: number; at: string }
  | { type: 'CompleteStage'; id: string; operationId: string; stage: string; log: string[]; at: string }
  | { type: 'FailStageAttempt'; id: string; operationId: string; stage: string; attempt: number; error: string; log: string[]; willRetry: boolean; at: string }
  | { type: 'CancelOperation'; id: string; operationId: string; reason: string | null; at: string }
  | { type: 'AssignInstance'; id: string; instanceId: string; tenantId: string; purpose: InstancePurpose; at: string }
  | { type: 'UnassignInstance'; id: string; instanceId: string; issue: ReportedIssue | null; repeatPolicy?: RepeatPolicy; at: string }
  | { type: 'RecordRepairOutcome'; id: string; repairStatus: string | null; completed: boolean; at: string }
  | { type: 'AddHealthOverride'; id: string; template: OverrideTemplate; message: string; issue: HealthOverride['issue']; by: string; at: string }
  | { type: 'RemoveHealthOverride'; id: string; source: string; reason: string; by: string; at: string }
  | { type: 'RecordHealth'; id: string; healthy: boolean; reason: string; at: string }
  | { type: 'RequireIntervention'; id: string; reason: string; by: string; at: string }
  | { type: 'EnableNodeMaintenance'; id: string; reason: string; at: string }
  | { type: 'DisableNodeMaintenance'; id: string; at: string }
  | { type: 'BeginDrain'; id: string; drainId: string; kind: DrainKind; request: DrainRequest; at: string }
  | { type: 'EndDrain'; id: string; drainId: string; status: DrainStatus; at: string };

export type InstancePurpose = 'TENANT' | 'REPAIR';
/** A machine that comes back with a new issue within `windowMs` of a completed repair more than `maxRepeats` times is out for repair. */
export interface RepeatPolicy {
  windowMs: number;
  maxRepeats: number;
}
export interface ReportedIssue {
  category: string;
  summary: string;
  details: string | null;
}

/** What the server derives from the state after each change: recorded in the event so the log says what it said. */
export type Derived = {
  effectiveState: EffectiveState;
  allocatable: boolean;
};

type Ev<T extends string, D extends object> = DomainEvent<T, D & { id: string; at: string }>;
export type MachineEvent =
  | Ev<'MachineRegistered', { phase: MachinePhase; hypervisor: boolean; capacity: Capacity | null; labels: Labels } & Derived>
  | Ev<'MachineLabelsChanged', { labels: Labels }>
  | Ev<'OperationRequested', { operationId: string; operation: OperationType; params: Record<string, unknown>; requestId: string; stages: string[] } & Derived>
  | Ev<'OperationStageStarted', { operationId: string; stage: string; attempt: number }>
  | Ev<'OperationStageSucceeded', { operationId: string; stage: string; log: string[] }>
  | Ev<'OperationStageAttemptFailed', { operationId: string; stage: string; attempt: number; error: string; log: string[]; willRetry: boolean }>
  | Ev<'OperationSucceeded', { operationId: string; operation: OperationType } & Derived>
  | Ev<'OperationFailed', { operationId: string; operation: OperationType; stage: string; error: string } & Derived>
  | Ev<'OperationCanceled', { operationId: string; operation: OperationType; reason: string | null } & Derived>
  | Ev<'MachinePhaseChanged', { from: MachinePhase; to: MachinePhase } & Derived>
  | Ev<'MachineConditionChanged', { condition: ConditionType; status: boolean; reason: string | null } & Derived>
  | Ev<'MachineAssigned', { instanceId: string; tenantId: string; purpose?: InstancePurpose } & Derived>
  | Ev<'MachineUnassigned', { instanceId: string; tenantId: string } & Derived>
  | Ev<'HealthOverrideAdded', Omit<HealthOverride, 'addedAt'> & Derived>
  | Ev<'HealthOverrideRemoved', { source: string; reason: string; removedBy: string } & Derived>
  | Ev<'RepairOutcomeRecorded', { repairStatus: string | null; completed: boolean; cycle: number }>
  | Ev<'RepeatIssueAfterRepair', { count: number; lastCompletedRepairAt: string }>
  | Ev<'NodeMaintenanceEnabled', { reason: string } & Derived>
  | Ev<'NodeMaintenanceDisabled', { startedAt: string } & Derived>
  | Ev<'NodeDrainBegan', { drainId: string; kind: DrainKind; request: DrainRequest }>
  | Ev<'NodeDrainEnded', { drainId: string; kind: DrainKind; status: DrainStatus }>;

/** The machine events that carry the derived state (effective state, allocatable) after them. */
export type StateBearingEvent = Extract<MachineEvent, { data: Derived }>['type'];
const stateBearing = {
  MachineRegistered: true,
  MachinePhaseChanged: true,
  MachineConditionChanged: true,
  MachineAssigned: true,
  MachineUnassigned: true,
  HealthOverrideAdded: true,
  HealthOverrideRemoved: true,
  OperationRequested: true,
  OperationSucceeded: true,
  OperationFailed: true,
  OperationCanceled: true,
  NodeMaintenanceEnabled: true,
  NodeMaintenanceDisabled: true,
} satisfies Record<StateBearingEvent, true>; // the compiler refuses a missing or an extra type
export const STATE_BEARING_EVENTS = Object.keys(stateBearing) as StateBearingEvent[];

export interface ActiveOperation {
  operationId: string;
  operation: OperationType;
  stages: string[];
  completed: string[];
}

export interface MachineState {
  registered: boolean;
  id: string | null;
  phase: MachinePhase | null;
  hypervisor: boolean;
  capacity: Capacity | null;
  labels: Labels;
  conditions: Partial<Record<ConditionType, Condition>>;
  active: ActiveOperation | null;
  /** The instance on this machine, and its tenant. */
  instance: { instanceId: string; tenantId: string; purpose: InstancePurpose } | null;
  /** Health overrides, by source. */
  overrides: Record<string, HealthOverride>;
  /** Repair cycles so far, when the last one completed, and how often an issue came back soon after. */
  repairs: { cycles: number; lastCompletedAt: string | null; repeats: number };
  /** Every operation ever requested on this machine, by id: its type and how it ended. */
  operations: Record<string, { operation: OperationType; outcome: 'ACTIVE' | 'SUCCEEDED' | 'FAILED' | 'CANCELED' }>;
  /** A hypervisor node's maintenance mode and drains. */
  node: NodeState;
}

export interface NodeState {
  maintenance: { reason: string; since: string } | null;
  /** The one drain or undrain running on this node. */
  activeDrain: { drainId: string; kind: DrainKind; request: DrainRequest } | null;
  lastDrain: { drainId: string; kind: DrainKind; status: DrainStatus } | null;
  /** The last drain (not undrain) that ended: what an undrain moves back. */
  lastDrainAway: string | null;
}

export const machineStream = (id: string) => `machine-${id}`;

/**
 * An instance is asked for on a machine that holds one already. Only the tenant that holds it
 * learns which instance (`ownInstanceId`); the message never names another tenant's.
 */
export class MachineTakenError extends ConflictError {
  constructor(
    readonly machineId: string,
    readonly ownInstanceId: string | null,
  ) {
    super(ownInstanceId ? `machine ${machineId} already has this tenant's instance ${ownInstanceId}` : `machine ${machineId} already has an instance`, { machineId });
  }
}

/** The server-derived fields of a state. Allocation also needs no instance and no blocking override (instances come later). */
export function derive(s: MachineState): Derived {
  const conditions = Object.values(s.conditions) as Condition[];
  // A node in maintenance mode is in maintenance whatever its phase: nothing new is placed on it.
  const state = effectiveState(s.node.maintenance ? 'MAINTENANCE' : (s.phase ?? 'FACTORY_READY'), conditions, s.active !== null);
  const unreachable = s.conditions.REACHABLE?.status === false;
  return { effectiveState: state, allocatable: s.phase === 'READY' && state === 'IDLE' && s.instance === null && !unreachable && !preventsAllocation(s.overrides) };
}

function overrideAdded(id: string, template: OverrideTemplate, message: string, issue: HealthOverride['issue'], by: string, at: string): MachineEvent {
  const t = TEMPLATES[template];
  return {
    type: 'HealthOverrideAdded',
    data: { id, source: t.source, template, classifications: [...t.classifications], message, issue, addedBy: by, at, ...pendingDerived },
  };
}

/** Why a machine cannot take an instance now, or null when it can. */
export function notAllocatable(s: MachineState): string | null {
  if (s.phase !== 'READY') return `phase is ${s.phase}`;
  if (s.active) return `operation ${s.active.operationId} is active`;
  if (s.instance) return `it has instance ${s.instance.instanceId}`;
  const state = derive(s).effectiveState;
  if (state !== 'IDLE') return `it is ${state}`;
  const blocking = Object.values(s.overrides).filter((o) => o.classifications.includes('PREVENT_ALLOCATIONS'));
  if (blocking.length) return `health override ${blocking.map((o) => o.source).join(', ')} prevents allocations`;
  return null;
}

function requireRegistered(s: MachineState, id: string): void {
  if (!s.registered) throw new NotFoundError(`machine ${id} not found`, { machineId: id });
}

function requireHypervisor(s: MachineState, id: string): void {
  requireRegistered(s, id);
  if (!s.hypervisor) throw new FailedPreconditionError(`machine ${id} is not a hypervisor node`, { node: id });
}

function requireActive(s: MachineState, operationId: string): ActiveOperation {
  const known = s.operations[operationId];
  if (!known) throw new NotFoundError(`operation ${operationId} not found`, { operationId });
  if (!s.active || s.active.operationId !== operationId) {
    throw new FailedPreconditionError(`operation ${operationId} is ${known.outcome}: a finished operation does not change`, { operationId, phase: known.outcome });
  }
  return s.active;
}

/** Applies the events to the state, then stamps each state-changing one with what the server derives after it. */
function withDerived(state: MachineState, events: MachineEvent[]): MachineEvent[] {
  let s = state;
  return events.map((e) => {
    s = machineDecider.evolve(s, e);
    return 'effectiveState' in e.data ? ({ ...e, data: { ...e.data, ...derive(s) } } as MachineEvent) : e;
  });
}

const pendingDerived: Derived = { effectiveState: 'NEW', allocatable: false };

export const machineDecider: Decider<MachineCommand, MachineEvent, MachineState> = {
  category: 'machine',
  initialState: { registered: false, id: null, phase: null, hypervisor: false, capacity: null, labels: {}, conditions: {}, active: null, instance: null, overrides: {}, repairs: { cycles: 0, lastCompletedAt: null, repeats: 0 }, operations: {}, node: { maintenance: null, activeDrain: null, lastDrain: null, lastDrainAway: null } },

  decide(c, s) {
    switch (c.type) {
      case 'RegisterMachine': {
        if (s.registered) throw new ConflictError(`machine ${c.id} is already registered`, { machineId: c.id });
        if (c.hypervisor && !c.capacity) throw new BadInputError('capacity', 'a hypervisor needs a capacity');
        checkLabels(c.labels, MACHINE_LABEL_VALUE_MAX);
        const { type: _t, ...data } = c;
        return withDerived(s, [{ type: 'MachineRegistered', data: { ...data, ...pendingDerived } }]);
      }
      case 'SetMachineLabels': {
        requireRegistered(s, c.id);
        checkLabels(c.labels, MACHINE_LABEL_VALUE_MAX);
        const same = Object.keys(c.labels).length === Object.keys(s.labels).length && Object.entries(c.labels).every(([k, v]) => s.labels[k] === v);
        return same ? [] : [{ type: 'MachineLabelsChanged', data: { id: c.id, labels: c.labels, at: c.at } }];
      }
      case 'RequestOperation': {
        requireRegistered(s, c.id);
        if (s.active) {
          throw new ConflictError(`machine ${c.id} already has an active operation: ${s.active.operationId} (${s.active.operation})`, {
            machineId: c.id,
            activeOperationId: s.active.operationId,
          });
        }
        const allowed = ALLOWED_PHASES[c.operation];
        if (!allowed.includes(s.phase!)) {
          throw new FailedPreconditionError(`${c.operation} needs phase ${allowed.join(' or ')}; machine ${c.id} is ${s.phase}`, {
            machineId: c.id,
            requiredPhase: allowed,
            phase: s.phase,
          });
        }
        if (c.operation === 'REIMAGE' && typeof c.params.imageRef !== 'string') throw new BadInputError('imageRef', 'a reimage needs an imageRef');
        return withDerived(s, [
          {
            type: 'OperationRequested',
            data: { id: c.id, operationId: c.operationId, operation: c.operation, params: c.params, requestId: c.requestId, stages: [...STAGES[c.operation]], at: c.at, ...pendingDerived },
          },
        ]);
      }
      case 'StartStage': {
        const active = requireActive(s, c.operationId);
        if (!active.stages.includes(c.stage) || active.completed.includes(c.stage)) throw new FailedPreconditionError(`stage ${c.stage} cannot start now`);
        return [{ type: 'OperationStageStarted', data: { id: c.id, operationId: c.operationId, stage: c.stage, attempt: c.attempt, at: c.at } }];
      }
      case 'CompleteStage': {
        const active = requireActive(s, c.operationId);
        if (active.completed.includes(c.stage)) return [];
        const events: MachineEvent[] = [{ type: 'OperationStageSucceeded', data: { id: c.id, operationId: c.operationId, stage: c.stage, log: c.log, at: c.at } }];
        if (active.completed.length + 1 < active.stages.length) return events;
        // The last stage: the operation succeeds, and its effects follow.
        const base = { id: c.id, at: c.at, ...pendingDerived };
        events.push({ type: 'OperationSucceeded', data: { ...base, operationId: c.operationId, operation: active.operation } });
        if (active.operation === 'ENTER_MAINTENANCE' && s.phase !== 'MAINTENANCE') events.push({ type: 'MachinePhaseChanged', data: { ...base, from: s.phase!, to: 'MAINTENANCE' } });
        if (active.operation === 'EXIT_MAINTENANCE') events.push({ type: 'MachinePhaseChanged', data: { ...base, from: s.phase!, to: 'READY' } });
        const set = (condition: ConditionType, status: boolean, reason: string) => {
          if ((s.conditions[condition]?.status ?? false) !== status) {
            events.push({ type: 'MachineConditionChanged', data: { ...base, condition, status, reason } });
          }
        };
        if (active.operation === 'REIMAGE') {
          set('PROVISIONED', true, `reimaged with ${String(c.operationId)}`);
          set('REACHABLE', true, 'verified in cluster after reimage');
        }
        // A machine that has just been acted on successfully no longer needs attention for an earlier failure or cancel.
        set('NEEDS_INTERVENTION', false, `cleared by successful ${active.operation}`);
        set('OPERATION_CANCELED', false, `cleared by successful ${active.operation}`);
        return withDerived(s, events);
      }
      case 'FailStageAttempt': {
        const active = requireActive(s, c.operationId);
        const events: MachineEvent[] = [
          { type: 'OperationStageAttemptFailed', data: { id: c.id, operationId: c.operationId, stage: c.stage, attempt: c.attempt, error: c.error, log: c.log, willRetry: c.willRetry, at: c.at } },
        ];
        if (c.willRetry) return events;
        const base = { id: c.id, at: c.at, ...pendingDerived };
        events.push({ type: 'OperationFailed', data: { ...base, operationId: c.operationId, operation: active.operation, stage: c.stage, error: c.error } });
        events.push({ type: 'MachineConditionChanged', data: { ...base, condition: 'NEEDS_INTERVENTION', status: true, reason: `${active.operation} failed at ${c.stage}: ${c.error}` } });
        return withDerived(s, events);
      }
      case 'AssignInstance': {
        requireRegistered(s, c.id);
        if (s.instance?.instanceId === c.instanceId) return [];
        if (s.instance) throw new MachineTakenError(c.id, s.instance.tenantId === c.tenantId ? s.instance.instanceId : null);
        if (c.purpose === 'REPAIR') {
          // A repair tenant takes exactly the machines that carry repair-request, whatever else blocks allocation.
          if (!s.overrides[REPAIR_REQUEST]) throw new FailedPreconditionError(`machine ${c.id} carries no ${REPAIR_REQUEST}`, { machineId: c.id });
          if (s.active) throw new FailedPreconditionError(`machine ${c.id} has active operation ${s.active.operationId}`, { machineId: c.id });
        } else {
          const why = notAllocatable(s);
          if (why) throw new FailedPreconditionError(`machine ${c.id} is not allocatable: ${why}`, { machineId: c.id });
        }
        return withDerived(s, [{ type: 'MachineAssigned', data: { id: c.id, instanceId: c.instanceId, tenantId: c.tenantId, purpose: c.purpose, at: c.at, ...pendingDerived } }]);
      }
      case 'UnassignInstance': {
        requireRegistered(s, c.id);
        if (s.instance?.instanceId !== c.instanceId) return [];
        const events: MachineEvent[] = [{ type: 'MachineUnassigned', data: { id: c.id, instanceId: c.instanceId, tenantId: s.instance.tenantId, at: c.at, ...pendingDerived } }];
        // A tenant's issue report blocks the machine in the same append that frees it: no window in which it is allocatable.
        if (c.issue && s.instance.purpose === 'TENANT') {
          events.push(overrideAdded(c.id, 'TENANT_REPORTED_ISSUE', issueMessage(c.issue, s.instance.tenantId), { ...c.issue, tenantId: s.instance.tenantId }, `tenant:${s.instance.tenantId}`, c.at));
          // The history makes it a rule: an issue soon after a completed repair, once too often, takes the machine out for repair.
          const last = s.repairs.lastCompletedAt;
          if (c.repeatPolicy && last && Date.parse(c.at) - Date.parse(last) <= c.repeatPolicy.windowMs) {
            const count = s.repairs.repeats + 1;
            events.push({ type: 'RepeatIssueAfterRepair', data: { id: c.id, count, lastCompletedRepairAt: last, at: c.at } });
            if (count > c.repeatPolicy.maxRepeats && !s.overrides[TEMPLATES.OUT_FOR_REPAIR.source]) {
              events.push(
                overrideAdded(c.id, 'OUT_FOR_REPAIR', `issue reported ${count} times within ${Math.round(c.repeatPolicy.windowMs / 3_600_000)} h of a completed repair; automatic repair stopped`, null, 'rule:repeat-offender', c.at),
              );
            }
          }
        }
        return withDerived(s, events);
      }
      case 'RecordRepairOutcome': {
        requireRegistered(s, c.id);
        return [{ type: 'RepairOutcomeRecorded', data: { id: c.id, repairStatus: c.repairStatus, completed: c.completed, cycle: s.repairs.cycles + 1, at: c.at } }];
      }
      case 'AddHealthOverride': {
        requireRegistered(s, c.id);
        // Automation does not ask for repair of a machine that is out for repair; an operator still can.
        if (c.template === 'REQUEST_REPAIR' && c.by.startsWith('saga:') && s.overrides[TEMPLATES.OUT_FOR_REPAIR.source]) return [];
        if (!TEMPLATES[c.template]) throw new BadInputError('template', 'is not a known override template');
        if (!c.message.trim()) throw new BadInputError('message', 'is required');
        return withDerived(s, [overrideAdded(c.id, c.template, c.message, c.issue, c.by, c.at)]);
      }
      case 'RemoveHealthOverride': {
        requireRegistered(s, c.id);
        if (!s.overrides[c.source]) return [];
        return withDerived(s, [{ type: 'HealthOverrideRemoved', data: { id: c.id, source: c.source, reason: c.reason, removedBy: c.by, at: c.at, ...pendingDerived } }]);
      }
      case 'CancelOperation': {
        const active = requireActive(s, c.operationId);
        const base = { id: c.id, at: c.at, ...pendingDerived };
        return withDerived(s, [
          { type: 'OperationCanceled', data: { ...base, operationId: c.operationId, operation: active.operation, reason: c.reason } },
          { type: 'MachineConditionChanged', data: { ...base, condition: 'OPERATION_CANCELED', status: true, reason: c.reason ?? `${active.operation} canceled` } },
        ]);
      }
      case 'RecordHealth': {
        requireRegistered(s, c.id);
        // Never probed counts as reachable: only a change is an event.
        if ((s.conditions.REACHABLE?.status ?? true) === c.healthy) return [];
        return withDerived(s, [{ type: 'MachineConditionChanged', data: { id: c.id, condition: 'REACHABLE', status: c.healthy, reason: `health check: ${c.reason}`, at: c.at, ...pendingDerived } }]);
      }
      case 'RequireIntervention': {
        requireRegistered(s, c.id);
        const events: MachineEvent[] = [];
        if (!s.conditions.NEEDS_INTERVENTION?.status) {
          events.push({ type: 'MachineConditionChanged', data: { id: c.id, condition: 'NEEDS_INTERVENTION', status: true, reason: c.reason, at: c.at, ...pendingDerived } });
        }
        if (!s.overrides[TEMPLATES.DEGRADED.source]) events.push(overrideAdded(c.id, 'DEGRADED', c.reason, null, c.by, c.at));
        return withDerived(s, events);
      }
      case 'EnableNodeMaintenance': {
        requireHypervisor(s, c.id);
        if (s.node.maintenance) return [];
        if (!c.reason.trim()) throw new BadInputError('reason', 'is required');
        return withDerived(s, [{ type: 'NodeMaintenanceEnabled', data: { id: c.id, reason: c.reason, at: c.at, ...pendingDerived } }]);
      }
      case 'DisableNodeMaintenance': {
        requireHypervisor(s, c.id);
        if (!s.node.maintenance) return [];
        return withDerived(s, [{ type: 'NodeMaintenanceDisabled', data: { id: c.id, startedAt: s.node.maintenance.since, at: c.at, ...pendingDerived } }]);
      }
      case 'BeginDrain': {
        requireHypervisor(s, c.id);
        const active = s.node.activeDrain;
        if (active?.drainId === c.drainId) return [];
        if (active) {
          throw new ConflictError(`node ${c.id} already has an active ${active.kind === 'DRAIN' ? 'drain' : 'undrain'}: ${active.drainId}`, { node: c.id, activeDrainId: active.drainId });
        }
        if (c.kind === 'UNDRAIN') {
          if (s.node.maintenance) throw new FailedPreconditionError(`node ${c.id} is in maintenance: end maintenance before moving VMs back`, { node: c.id });
          if (!s.node.lastDrainAway) throw new FailedPreconditionError(`node ${c.id} has no drain to undo`, { node: c.id });
        }
        return [{ type: 'NodeDrainBegan', data: { id: c.id, drainId: c.drainId, kind: c.kind, request: c.request, at: c.at } }];
      }
      case 'EndDrain': {
        requireHypervisor(s, c.id);
        const active = s.node.activeDrain;
        if (active?.drainId !== c.drainId) return [];
        return [{ type: 'NodeDrainEnded', data: { id: c.id, drainId: c.drainId, kind: active.kind, status: c.status, at: c.at } }];
      }
    }
  },

  evolve(s, e) {
    switch (e.type) {
      case 'MachineRegistered':
        return { ...s, registered: true, id: e.data.id, phase: e.data.phase, hypervisor: e.data.hypervisor, capacity: e.data.capacity, labels: e.data.labels };
      case 'MachineLabelsChanged':
        return { ...s, labels: e.data.labels };
      case 'OperationRequested':
        return {
          ...s,
          active: { operationId: e.data.operationId, operation: e.data.operation, stages: e.data.stages, completed: [] },
          operations: { ...s.operations, [e.data.operationId]: { operation: e.data.operation, outcome: 'ACTIVE' } },
        };
      case 'OperationStageSucceeded':
        return s.active ? { ...s, active: { ...s.active, completed: [...s.active.completed, e.data.stage] } } : s;
      case 'OperationSucceeded':
      case 'OperationFailed':
      case 'OperationCanceled': {
        const outcome = e.type === 'OperationSucceeded' ? 'SUCCEEDED' : e.type === 'OperationFailed' ? 'FAILED' : 'CANCELED';
        return { ...s, active: null, operations: { ...s.operations, [e.data.operationId]: { operation: e.data.operation, outcome } } };
      }
      case 'MachinePhaseChanged':
        return { ...s, phase: e.data.to };
      case 'MachineAssigned':
        return { ...s, instance: { instanceId: e.data.instanceId, tenantId: e.data.tenantId, purpose: e.data.purpose ?? 'TENANT' } };
      case 'HealthOverrideAdded': {
        const { id: _id, at, effectiveState: _e, allocatable: _a, ...o } = e.data;
        return { ...s, overrides: { ...s.overrides, [o.source]: { ...o, addedAt: at } } };
      }
      case 'RepairOutcomeRecorded':
        return { ...s, repairs: { cycles: e.data.cycle, lastCompletedAt: e.data.completed ? e.data.at : s.repairs.lastCompletedAt, repeats: s.repairs.repeats } };
      case 'RepeatIssueAfterRepair':
        return { ...s, repairs: { ...s.repairs, repeats: e.data.count } };
      case 'HealthOverrideRemoved': {
        const { [e.data.source]: _gone, ...rest } = s.overrides;
        return { ...s, overrides: rest };
      }
      case 'MachineUnassigned':
        return { ...s, instance: null };
      case 'NodeMaintenanceEnabled':
        return { ...s, node: { ...s.node, maintenance: { reason: e.data.reason, since: e.data.at } } };
      case 'NodeMaintenanceDisabled':
        return { ...s, node: { ...s.node, maintenance: null } };
      case 'NodeDrainBegan':
        return { ...s, node: { ...s.node, activeDrain: { drainId: e.data.drainId, kind: e.data.kind, request: e.data.request } } };
      case 'NodeDrainEnded':
        return {
          ...s,
          node: {
            ...s.node,
            activeDrain: null,
            lastDrain: { drainId: e.data.drainId, kind: e.data.kind, status: e.data.status },
            lastDrainAway: e.data.kind === 'DRAIN' ? e.data.drainId : s.node.lastDrainAway,
          },
        };
      case 'MachineConditionChanged':
        return { ...s, conditions: { ...s.conditions, [e.data.condition]: { type: e.data.condition, status: e.data.status, reason: e.data.reason, since: e.data.at } } };
      default:
        return s;
    }
  },
};
