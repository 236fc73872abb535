import type { InstanceEvent } from '../src/instances/instance.decider';
import type { Projection } from '../src/messaging/projection';

type Data<T extends InstanceEvent['type']> = Extract<InstanceEvent, { type: T }>['data'];

/** `instances`: one document per instance, as its tenant and operators read it. */
export const instancesProjection: Projection = {
  name: 'instances',
  version: 1,
  collections: { instances: { indexes: [{ field: 'tenantId' }, { field: 'machineId' }, { field: 'status' }] } },
  handlers: {
    InstanceAllocated: (e) => {
      const d = e.data as Data<'InstanceAllocated'>;
      return [
        {
          op: 'replaceOne',
          collection: 'instances',
          filter: { _id: d.id },
          upsert: true,
          doc: {
            _id: d.id,
            id: d.id,
            tenantId: d.tenantId,
            machineId: d.machineId,
            purpose: d.purpose ?? 'TENANT',
            status: 'READY',
            provisioningStatus: 'READY',
            errorMessage: null,
            labels: d.labels,
            issue: null,
            createdAt: d.at,
            releasedAt: null,
          },
        },
      ];
    },
    InstanceLabelsChanged: (e) => {
      const d = e.data as Data<'InstanceLabelsChanged'>;
      return [{ op: 'updateOne', collection: 'instances', filter: { _id: d.id }, update: { $set: { labels: d.labels } } }];
    },
    InstanceReleased: (e) => {
      const d = e.data as Data<'InstanceReleased'>;
      return [{ op: 'updateOne', collection: 'instances', filter: { _id: d.id }, update: { $set: { status: 'RELEASED', issue: d.issue, releasedAt: d.at } } }];
    },
  },
};
