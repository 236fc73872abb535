import type { MachineEvent } from '../src/machines/machine.decider';
import type { Projection } from '../src/messaging/projection';
import type { Change } from '../src/read-store/read-store.port';

type Data<T extends MachineEvent['type']> = Extract<MachineEvent, { type: T }>['data'];

/** `machines`: one document per machine, as operators and tenants read it. */
const derived = (d: { effectiveState: string; allocatable: boolean; at: string }, revision: number) => ({
  effectiveState: d.effectiveState,
  allocatable: d.allocatable,
  revision,
  updatedAt: d.at,
});
const update = (id: string, $set: Record<string, unknown>): Change => ({ op: 'updateOne', collection: 'machines', filter: { _id: id }, update: { $set } });

/** `machines`: one document per machine, as operators and tenants read it. Derived fields come from the events. */
export const machinesProjection: Projection = {
  name: 'machines',
  version: 7,
  collections: {
    machines: { indexes: [{ field: 'phase' }, { field: 'effectiveState' }, { field: 'hypervisor' }, { field: 'tenantId' }] },
  },
  handlers: {
    MachineRegistered: (e) => {
      const d = e.data as Data<'MachineRegistered'>;
      return [
        {
          op: 'replaceOne',
          collection: 'machines',
          filter: { _id: d.id },
          upsert: true,
          doc: {
            _id: d.id,
            id: d.id,
            phase: d.phase,
            effectiveState: d.effectiveState,
            conditions: {},
            labels: d.labels,
            hypervisor: d.hypervisor,
            capacity: d.capacity,
            healthOverrides: [],
            allocatable: d.allocatable,
            instance: null,
            tenantId: null,
            activeOperation: null,
            repairCycles: 0,
            repeatIssuesAfterRepair: 0,
            lastCompletedRepairAt: null,
            maintenance: { inMaintenance: false, reason: null, since: null, endedAt: null, activeDrain: null, lastDrain: null, drainStatus: null },
            revision: e.revision,
            registeredAt: d.at,
            updatedAt: d.at,
          },
        },
      ];
    },
    MachineLabelsChanged: (e) => {
      const d = e.data as Data<'MachineLabelsChanged'>;
      return [update(d.id, { labels: d.labels, revision: e.revision, updatedAt: d.at })];
    },
    OperationRequested: (e) => {
      const d = e.data as Data<'OperationRequested'>;
      return [update(d.id, { activeOperation: d.operationId, ...derived(d, e.revision) })];
    },
    OperationSucceeded: (e) => {
      const d = e.data as Data<'OperationSucceeded'>;
      return [update(d.id, { activeOperation: null, ...derived(d, e.revision) })];
    },
    OperationFailed: (e) => {
      const d = e.data as Data<'OperationFailed'>;
      return [update(d.id, { activeOperation: null, ...derived(d, e.revision) })];
    },
    OperationCanceled: (e) => {
      const d = e.data as Data<'OperationCanceled'>;
      return [update(d.id, { activeOperation: null, ...derived(d, e.revision) })];
    },
    MachinePhaseChanged: (e) => {
      const d = e.data as Data<'MachinePhaseChanged'>;
      return [update(d.id, { phase: d.to, ...derived(d, e.revision) })];
    },
    MachineAssigned: (e) => {
      const d = e.data as Data<'MachineAssigned'>;
      // The assignment's event id lets the commands that end it (a repair's completion) name it as their cause.
      return [update(d.id, { instance: d.instanceId, tenantId: d.tenantId, instanceEventId: e.id, ...derived(d, e.revision) })];
    },
    MachineUnassigned: (e) => {
      const d = e.data as Data<'MachineUnassigned'>;
      return [update(d.id, { instance: null, tenantId: null, instanceEventId: null, ...derived(d, e.revision) })];
    },
    HealthOverrideAdded: (e) => {
      const d = e.data as Data<'HealthOverrideAdded'>;
      const { id, at, effectiveState: _e, allocatable: _a, ...o } = d;
      return [
        { op: 'updateOne', collection: 'machines', filter: { _id: id }, update: { $pull: { healthOverrides: { source: o.source } } } },
        { op: 'updateOne', collection: 'machines', filter: { _id: id }, update: { $push: { healthOverrides: { ...o, addedAt: at, eventId: e.id } }, $set: derived(d, e.revision) } },
      ];
    },
    HealthOverrideRemoved: (e) => {
      const d = e.data as Data<'HealthOverrideRemoved'>;
      return [{ op: 'updateOne', collection: 'machines', filter: { _id: d.id }, update: { $pull: { healthOverrides: { source: d.source } }, $set: derived(d, e.revision) } }];
    },
    RepairOutcomeRecorded: (e) => {
      const d = e.data as Data<'RepairOutcomeRecorded'>;
      return [update(d.id, { repairCycles: d.cycle, ...(d.completed ? { lastCompletedRepairAt: d.at } : {}), revision: e.revision, updatedAt: d.at })];
    },
    RepeatIssueAfterRepair: (e) => {
      const d = e.data as Data<'RepeatIssueAfterRepair'>;
      return [update(d.id, { repeatIssuesAfterRepair: d.count, revision: e.revision, updatedAt: d.at })];
    },
    NodeMaintenanceEnabled: (e) => {
      const d = e.data as Data<'NodeMaintenanceEnabled'>;
      return [update(d.id, { 'maintenance.inMaintenance': true, 'maintenance.reason': d.reason, 'maintenance.since': d.at, 'maintenance.endedAt': null, ...derived(d, e.revision) })];
    },
    NodeMaintenanceDisabled: (e) => {
      const d = e.data as Data<'NodeMaintenanceDisabled'>;
      return [update(d.id, { 'maintenance.inMaintenance': false, 'maintenance.endedAt': d.at, ...derived(d, e.revision) })];
    },
    NodeDrainBegan: (e) => {
      const d = e.data as Data<'NodeDrainBegan'>;
      return [update(d.id, { 'maintenance.activeDrain': d.drainId, 'maintenance.lastDrain': d.drainId, 'maintenance.drainStatus': 'IN_PROGRESS', revision: e.revision, updatedAt: d.at })];
    },
    NodeDrainEnded: (e) => {
      const d = e.data as Data<'NodeDrainEnded'>;
      return [update(d.id, { 'maintenance.activeDrain': null, 'maintenance.drainStatus': d.status, revision: e.revision, updatedAt: d.at })];
    },
    MachineConditionChanged: (e) => {
      const d = e.data as Data<'MachineConditionChanged'>;
      return [update(d.id, { [`conditions.${d.condition}`]: { type: d.condition, status: d.status, reason: d.reason, since: d.at }, ...derived(d, e.revision) })];
    },
  },
};
