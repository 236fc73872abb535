/**
 * The rules of draining a hypervisor node, in one place: what happens to each VM (the tag
 * table), where it may go (the target rules), and how progress reads.
 */

export const DRAIN_MODES = ['SOFT', 'HARD'] as const;
export type DrainMode = (typeof DRAIN_MODES)[number];
export const DRAIN_KINDS = ['DRAIN', 'UNDRAIN'] as const;
export type DrainKind = (typeof DRAIN_KINDS)[number];
export const DRAIN_STATUSES = ['IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELED'] as const;
export type DrainStatus = (typeof DRAIN_STATUSES)[number];
export const VM_MIGRATION_STATUSES = ['PENDING', 'SKIPPED', 'IN_PROGRESS', 'COMPLETED', 'FAILED'] as const;
export type VmMigrationStatus = (typeof VM_MIGRATION_STATUSES)[number];
export const MIGRATION_TYPES = ['ONLINE', 'OFFLINE'] as const;
export type MigrationType = (typeof MIGRATION_TYPES)[number];

export const ALWAYS_ON = 'always-on';
export const MAINT_OK = 'maint-ok';

export type VmPlan = { action: 'MIGRATE'; migrationType: MigrationType } | { action: 'SKIP'; reason: string };

/**
 * The tag table. `always-on` wins over everything and is never moved offline; `maint-ok`
 * stays on a soft drain (it reboots with the node) and moves offline on a hard one;
 * `allowOffline` lets untagged VMs move offline.
 *
 * | tags                  | soft drain         | hard drain         |
 * |-----------------------|--------------------|--------------------|
 * | always-on (+maint-ok) | online             | online             |
 * | maint-ok              | skipped            | offline            |
 * | none                  | online (offline with allowOffline)     |
 */
export function planVm(tags: readonly string[], mode: DrainMode, allowOffline: boolean): VmPlan {
  if (tags.includes(ALWAYS_ON)) return { action: 'MIGRATE', migrationType: 'ONLINE' };
  if (tags.includes(MAINT_OK)) {
    return mode === 'SOFT'
      ? { action: 'SKIP', reason: 'maint-ok: stays on the node and reboots with it (soft drain)' }
      : { action: 'MIGRATE', migrationType: 'OFFLINE' };
  }
  return { action: 'MIGRATE', migrationType: allowOffline ? 'OFFLINE' : 'ONLINE' };
}

/** A hypervisor node as target selection sees it: capacity, what is on it, and whether it takes VMs. */
export interface NodeView {
  name: string;
  capacity: { cpuCores: number; memoryGiB: number } | null;
  used: { cpuCores: number; memoryGiB: number };
  inMaintenance: boolean;
  allocatable: boolean;
}

export interface VmSize {
  cpuCores: number;
  memoryGiB: number;
}

export const NO_TARGET = 'No suitable target node found';

export const free = (n: NodeView) => ({
  cpuCores: (n.capacity?.cpuCores ?? 0) - n.used.cpuCores,
  memoryGiB: (n.capacity?.memoryGiB ?? 0) - n.used.memoryGiB,
});
const fits = (n: NodeView, vm: VmSize) => {
  const f = free(n);
  return f.cpuCores >= vm.cpuCores && f.memoryGiB >= vm.memoryGiB;
};

/** Why a node cannot take this VM from this source, or null when it can. */
export function unsuitable(n: NodeView, vm: VmSize, source: string): string | null {
  if (n.name === source) return `${n.name} is the source node`;
  if (n.inMaintenance) return `${n.name} is in maintenance`;
  if (!n.allocatable) return `${n.name} is not allocatable`;
  if (!fits(n, vm)) {
    const f = free(n);
    return `${n.name} has ${f.cpuCores} cores / ${f.memoryGiB} GiB free, the VM needs ${vm.cpuCores} / ${vm.memoryGiB}`;
  }
  return null;
}

/**
 * The target for a VM: the pinned node if it passes the rules, otherwise the eligible node
 * with the most free memory, then the most free cores, then the first name — deterministic.
 */
export function chooseTarget(vm: VmSize, source: string, nodes: readonly NodeView[], pinned: string | null): { target: string } | { error: string } {
  if (pinned) {
    const n = nodes.find((x) => x.name === pinned);
    const why = n ? unsuitable(n, vm, source) : `${pinned} is not a hypervisor node`;
    return why ? { error: `${NO_TARGET}: ${why}` } : { target: pinned };
  }
  const others = nodes.filter((n) => n.name !== source);
  if (others.length === 0) return { error: `${NO_TARGET}: only the source node ${source} is left` };
  const open = others.filter((n) => !n.inMaintenance && n.allocatable);
  if (open.length === 0) {
    const all = others.every((n) => n.inMaintenance);
    return { error: `${NO_TARGET}: ${all ? 'all other nodes are in maintenance' : 'every other node is in maintenance or not allocatable'}` };
  }
  const eligible = open.filter((n) => fits(n, vm));
  if (eligible.length === 0) return { error: `${NO_TARGET}: no node has ${vm.cpuCores} cores and ${vm.memoryGiB} GiB free` };
  const best = [...eligible].sort((a, b) => free(b).memoryGiB - free(a).memoryGiB || free(b).cpuCores - free(a).cpuCores || a.name.localeCompare(b.name))[0];
  return { target: best.name };
}

export interface Counters {
  totalVMs: number;
  completedVMs: number;
  failedVMs: number;
  skippedVMs: number;
  inFlight: number;
}

/** `Progress: 8/15 completed` while running; a summary once finished. */
export function progressMessage(c: Counters, status: DrainStatus, reason: string | null): string {
  const extras = [c.skippedVMs ? `${c.skippedVMs} skipped` : '', c.failedVMs ? `${c.failedVMs} failed` : '', c.inFlight ? `${c.inFlight} in flight` : ''].filter(Boolean);
  const progress = `${c.completedVMs}/${c.totalVMs} completed${extras.length ? `, ${extras.join(', ')}` : ''}`;
  if (status === 'IN_PROGRESS') return `Progress: ${progress}${reason ? ` (${reason})` : ''}`;
  const word = status === 'COMPLETED' ? 'Completed' : status === 'CANCELED' ? 'Canceled' : 'Failed';
  return `${word}: ${progress}${reason ? `. ${reason}` : ''}`;
}
