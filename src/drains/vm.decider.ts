import { Decider, DomainEvent } from '../messaging/decider';
import { BadInputError, ConflictError, FailedPreconditionError, NotFoundError } from '../messaging/domain-errors';
import type { MigrationType } from './drain.rules';

export const VM_POWER = ['running', 'stopped'] as const;
export type VmPower = (typeof VM_POWER)[number];
export const VM_TAG = /^[A-Za-z0-9][A-Za-z0-9_.:=/-]{0,63}$/;
const MAX_TAGS = 32;

export const vmStream = (vmid: number) => `vm-${vmid}`;

export interface VmSpec {
  vmid: number;
  name: string;
  node: string;
  tags: string[];
  status: VmPower;
  cpuCores: number;
  memoryGiB: number;
}

export type VmCommand =
  | ({ type: 'CreateVm'; at: string } & VmSpec)
  | { type: 'SetVmTags'; vmid: number; tags: string[]; at: string }
  | { type: 'DeleteVm'; vmid: number; at: string }
  /** Records a migration the provider has done. `from` is where the mover believes the VM is. */
  | { type: 'MoveVm'; vmid: number; from: string; to: string; migrationType: MigrationType; drainId: string | null; at: string }
  | { type: 'RecordVmStopped'; vmid: number; reason: string; at: string }
  | { type: 'RecordVmStarted'; vmid: number; reason: string; at: string }
  | { type: 'RecordVmHealth'; vmid: number; healthy: boolean; reason: string; at: string }
  | { type: 'RecordVmOrphaned'; vmid: number; reason: string; detail: string; at: string }
  | { type: 'RequireVmIntervention'; vmid: number; reason: string; at: string };

type Ev<T extends string, D extends object> = DomainEvent<T, D & { vmid: number; at: string }>;
export type VmEvent =
  | Ev<'VmCreated', Omit<VmSpec, 'vmid'>>
  | Ev<'VmTagsChanged', { tags: string[] }>
  | Ev<'VmDeleted', { node: string; cpuCores: number; memoryGiB: number }>
  | Ev<'VmMigrated', { from: string; to: string; migrationType: MigrationType; drainId: string | null; cpuCores: number; memoryGiB: number }>
  | Ev<'VmFoundStopped', { node: string; reason: string }>
  | Ev<'VmStarted', { node: string; reason: string }>
  | Ev<'VmHealthChanged', { healthy: boolean; reason: string }>
  /** The VM's process is gone, its control socket fails, or it stays unhealthy. */
  | Ev<'VmOrphaned', { node: string; reason: string; detail: string }>
  | Ev<'VmNeedsIntervention', { reason: string }>;

export interface VmState {
  exists: boolean;
  deleted: boolean;
  spec: VmSpec | null;
  healthy: boolean;
  orphaned: boolean;
  needsIntervention: boolean;
}

/** Tags are a set: trimmed of duplicates and kept sorted, so equal sets are equal lists. */
export function normaliseTags(tags: readonly string[]): string[] {
  if (tags.length > MAX_TAGS) throw new BadInputError('tags', `at most ${MAX_TAGS} tags`);
  for (const t of tags) {
    if (!VM_TAG.test(t)) throw new BadInputError('tags', `"${t}" is not a tag: 1-64 letters, digits and _ . : = / -, starting with a letter or digit`);
  }
  return [...new Set(tags)].sort();
}

function requireLive(s: VmState, vmid: number): VmSpec {
  if (!s.exists || !s.spec) throw new NotFoundError(`VM ${vmid} not found`, { vmid });
  if (s.deleted) throw new NotFoundError(`VM ${vmid} was deleted`, { vmid });
  return s.spec;
}

/** One stream per VM: where it is, what it is tagged, whether it runs. */
export const vmDecider: Decider<VmCommand, VmEvent, VmState> = {
  category: 'vm',
  initialState: { exists: false, deleted: false, spec: null, healthy: true, orphaned: false, needsIntervention: false },

  decide(c, s) {
    switch (c.type) {
      case 'CreateVm': {
        if (s.exists) throw new ConflictError(`VM ${c.vmid} already exists${s.deleted ? ' (deleted; vmids are not reused)' : ''}`, { vmid: c.vmid });
        const { type: _t, ...spec } = c;
        return [{ type: 'VmCreated', data: { ...spec, tags: normaliseTags(c.tags) } }];
      }
      case 'SetVmTags': {
        const vm = requireLive(s, c.vmid);
        const tags = normaliseTags(c.tags);
        if (tags.join('\n') === vm.tags.join('\n')) return [];
        return [{ type: 'VmTagsChanged', data: { vmid: c.vmid, tags, at: c.at } }];
      }
      case 'DeleteVm': {
        const vm = requireLive(s, c.vmid);
        return [{ type: 'VmDeleted', data: { vmid: c.vmid, node: vm.node, cpuCores: vm.cpuCores, memoryGiB: vm.memoryGiB, at: c.at } }];
      }
      case 'MoveVm': {
        const vm = requireLive(s, c.vmid);
        if (vm.node === c.to) return [];
        if (vm.node !== c.from) {
          throw new FailedPreconditionError(`VM ${c.vmid} is on ${vm.node}, not ${c.from}: it was moved by someone else`, { vmid: c.vmid, node: vm.node });
        }
        if (c.migrationType === 'OFFLINE' && vm.tags.includes('always-on')) {
          throw new FailedPreconditionError(`VM ${c.vmid} is always-on and is never migrated offline`, { vmid: c.vmid });
        }
        return [{ type: 'VmMigrated', data: { vmid: c.vmid, from: c.from, to: c.to, migrationType: c.migrationType, drainId: c.drainId, cpuCores: vm.cpuCores, memoryGiB: vm.memoryGiB, at: c.at } }];
      }
      case 'RecordVmStopped': {
        const vm = requireLive(s, c.vmid);
        return vm.status === 'stopped' ? [] : [{ type: 'VmFoundStopped', data: { vmid: c.vmid, node: vm.node, reason: c.reason, at: c.at } }];
      }
      case 'RecordVmStarted': {
        const vm = requireLive(s, c.vmid);
        return vm.status === 'running' ? [] : [{ type: 'VmStarted', data: { vmid: c.vmid, node: vm.node, reason: c.reason, at: c.at } }];
      }
      case 'RecordVmHealth': {
        requireLive(s, c.vmid);
        return s.healthy === c.healthy ? [] : [{ type: 'VmHealthChanged', data: { vmid: c.vmid, healthy: c.healthy, reason: c.reason, at: c.at } }];
      }
      case 'RecordVmOrphaned': {
        const vm = requireLive(s, c.vmid);
        return s.orphaned ? [] : [{ type: 'VmOrphaned', data: { vmid: c.vmid, node: vm.node, reason: c.reason, detail: c.detail, at: c.at } }];
      }
      case 'RequireVmIntervention': {
        requireLive(s, c.vmid);
        return s.needsIntervention ? [] : [{ type: 'VmNeedsIntervention', data: { vmid: c.vmid, reason: c.reason, at: c.at } }];
      }
    }
  },

  evolve(s, e) {
    switch (e.type) {
      case 'VmCreated': {
        const { at: _at, ...spec } = e.data;
        return { ...s, exists: true, deleted: false, spec };
      }
      case 'VmHealthChanged':
        // Healthy again ends an orphan episode and the need for a person.
        return e.data.healthy ? { ...s, healthy: true, orphaned: false, needsIntervention: false } : { ...s, healthy: false };
      case 'VmOrphaned':
        return { ...s, orphaned: true };
      case 'VmNeedsIntervention':
        return { ...s, needsIntervention: true };
      case 'VmTagsChanged':
        return { ...s, spec: { ...s.spec!, tags: e.data.tags } };
      case 'VmDeleted':
        return { ...s, deleted: true };
      case 'VmMigrated':
        return { ...s, spec: { ...s.spec!, node: e.data.to } };
      case 'VmFoundStopped':
        return { ...s, spec: { ...s.spec!, status: 'stopped' } };
      case 'VmStarted':
        return { ...s, spec: { ...s.spec!, status: 'running' } };
      default:
        return s;
    }
  },
};
