import type { MachineEvent } from '../src/machines/machine.decider';
import type { Projection } from '../src/messaging/projection';
import { REPAIR_REQUEST } from '../src/health/overrides';

type Data<T extends MachineEvent['type']> = Extract<MachineEvent, { type: T }>['data'];
/** Only the open repair of a machine carries `openFor` (indexed): finding it never reads the machine's past repairs. */
const open = (machineId: string) => ({ openFor: machineId });
const close = { $unset: { openFor: '' } };

/**
 * `analytics_repairs`: one document per repair, from the repair request to its outcome:
 * when it was asked for (and for which category), claimed, and finished, and how it ended.
 * Durations are computed when read, so a window can cut them.
 */
export const analyticsRepairsProjection: Projection = {
  name: 'analytics_repairs',
  version: 1,
  collections: { analytics_repairs: { indexes: [{ field: 'openFor' }, { field: 'machineId' }, { field: 'finishedAt' }] } },
  handlers: {
    HealthOverrideAdded: (e) => {
      const d = e.data as Data<'HealthOverrideAdded'>;
      if (d.source !== REPAIR_REQUEST) return [];
      return [
        {
          op: 'updateOne',
          collection: 'analytics_repairs',
          filter: open(d.id),
          // A second request while one is open is the same repair.
          update: { $setOnInsert: { _id: e.id, machineId: d.id, requestedAt: d.at, category: d.issue?.category ?? 'UNSPECIFIED', claimedAt: null, finishedAt: null, outcome: null } },
          upsert: true,
        },
      ];
    },
    MachineAssigned: (e) => {
      const d = e.data as Data<'MachineAssigned'>;
      if (d.purpose !== 'REPAIR') return [];
      return [{ op: 'updateOne', collection: 'analytics_repairs', filter: { ...open(d.id), claimedAt: null }, update: { $set: { claimedAt: d.at } } }];
    },
    RepairOutcomeRecorded: (e) => {
      const d = e.data as Data<'RepairOutcomeRecorded'>;
      return [
        { op: 'updateOne', collection: 'analytics_repairs', filter: open(d.id), update: { $set: { finishedAt: d.at, outcome: d.completed ? 'COMPLETED' : 'NOT_COMPLETED', repairStatus: d.repairStatus }, ...close } },
      ];
    },
    HealthOverrideRemoved: (e) => {
      // An operator withdrawing the request ends the repair without an outcome.
      const d = e.data as Data<'HealthOverrideRemoved'>;
      if (d.source !== REPAIR_REQUEST) return [];
      return [{ op: 'updateOne', collection: 'analytics_repairs', filter: open(d.id), update: { $set: { finishedAt: d.at, outcome: 'WITHDRAWN', repairStatus: null }, ...close } }];
    },
  },
};
