import type { MachineEvent } from '../src/machines/machine.decider';
import { effectiveState } from '../src/machines/machine.rules';
import type { Projection } from '../src/messaging/projection';

type Data<T extends MachineEvent['type']> = Extract<MachineEvent, { type: T }>['data'];

/** `machines`: one document per machine, as operators and tenants read it. */
export const machinesProjection: Projection = {
  name: 'machines',
  version: 1,
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
            effectiveState: effectiveState(d.phase, [], false),
            conditions: [],
            labels: d.labels,
            hypervisor: d.hypervisor,
            capacity: d.capacity,
            healthOverrides: [],
            allocatable: d.phase === 'READY',
            instance: null,
            tenantId: null,
            activeOperation: null,
            revision: e.revision,
            registeredAt: d.at,
            updatedAt: d.at,
          },
        },
      ];
    },
    MachineLabelsChanged: (e) => {
      const d = e.data as Data<'MachineLabelsChanged'>;
      return [
        {
          op: 'updateOne',
          collection: 'machines',
          filter: { _id: d.id },
          update: { $set: { labels: d.labels, revision: e.revision, updatedAt: d.at } },
        },
      ];
    },
  },
};
