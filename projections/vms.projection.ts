import type { VmEvent } from '../src/drains/vm.decider';
import type { Projection } from '../src/messaging/projection';
import type { Change } from '../src/read-store/read-store.port';

type Data<T extends VmEvent['type']> = Extract<VmEvent, { type: T }>['data'];

const vm = (vmid: number, $set: Record<string, unknown>): Change => ({ op: 'updateOne', collection: 'vms', filter: { _id: String(vmid) }, update: { $set } });
/** What the VMs on a node take from it: kept by $inc so a placement decision reads one small document per node. */
const usage = (node: string, sign: 1 | -1, d: { cpuCores: number; memoryGiB: number }): Change => ({
  op: 'updateOne',
  collection: 'node_usage',
  filter: { _id: node },
  update: { $inc: { cpuCores: sign * d.cpuCores, memoryGiB: sign * d.memoryGiB, vms: sign } },
  upsert: true,
});

/** `vms`: one document per VM (where it is, its tags, whether it runs); `node_usage`: per node, what its VMs take. */
export const vmsProjection: Projection = {
  name: 'vms',
  version: 2,
  collections: {
    // tags is a list: not indexed (the embedded store's expression indexes are for scalar fields).
    vms: { indexes: [{ field: 'node' }, { field: 'vmid' }] },
    node_usage: {},
  },
  handlers: {
    VmCreated: (e) => {
      const d = e.data as Data<'VmCreated'>;
      return [
        {
          op: 'replaceOne',
          collection: 'vms',
          filter: { _id: String(d.vmid) },
          upsert: true,
          doc: { _id: String(d.vmid), vmid: d.vmid, name: d.name, node: d.node, tags: d.tags, status: d.status, cpuCores: d.cpuCores, memoryGiB: d.memoryGiB, lastMigration: null, healthy: true, orphaned: null, needsIntervention: false, createdAt: d.at, updatedAt: d.at },
        },
        usage(d.node, 1, d),
      ];
    },
    VmTagsChanged: (e) => {
      const d = e.data as Data<'VmTagsChanged'>;
      return [vm(d.vmid, { tags: d.tags, updatedAt: d.at })];
    },
    VmDeleted: (e) => {
      const d = e.data as Data<'VmDeleted'>;
      return [{ op: 'deleteOne', collection: 'vms', filter: { _id: String(d.vmid) } }, usage(d.node, -1, d)];
    },
    VmMigrated: (e) => {
      const d = e.data as Data<'VmMigrated'>;
      return [
        vm(d.vmid, { node: d.to, lastMigration: { drainId: d.drainId, from: d.from, to: d.to, migrationType: d.migrationType, at: d.at }, updatedAt: d.at }),
        usage(d.from, -1, d),
        usage(d.to, 1, d),
      ];
    },
    VmFoundStopped: (e) => {
      const d = e.data as Data<'VmFoundStopped'>;
      return [vm(d.vmid, { status: 'stopped', updatedAt: d.at })];
    },
    VmHealthChanged: (e) => {
      const d = e.data as Data<'VmHealthChanged'>;
      return [vm(d.vmid, d.healthy ? { healthy: true, orphaned: null, needsIntervention: false, healthReason: d.reason, updatedAt: d.at } : { healthy: false, healthReason: d.reason, updatedAt: d.at })];
    },
    VmOrphaned: (e) => {
      const d = e.data as Data<'VmOrphaned'>;
      return [vm(d.vmid, { orphaned: { reason: d.reason, detail: d.detail, at: d.at }, updatedAt: d.at })];
    },
    VmNeedsIntervention: (e) => {
      const d = e.data as Data<'VmNeedsIntervention'>;
      return [vm(d.vmid, { needsIntervention: true, interventionReason: d.reason, updatedAt: d.at })];
    },
    VmStarted: (e) => {
      const d = e.data as Data<'VmStarted'>;
      return [vm(d.vmid, { status: 'running', updatedAt: d.at })];
    },
  },
};
