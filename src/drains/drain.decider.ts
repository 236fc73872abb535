import { Decider, DomainEvent } from '../messaging/decider';
import { FailedPreconditionError, NotFoundError } from '../messaging/domain-errors';
import { Counters, DrainKind, DrainMode, DrainStatus, MigrationType, progressMessage, VmMigrationStatus } from './drain.rules';

export const drainStream = (id: string) => `drain-${id}`;

/** How a drain was asked for: recorded on the node when it begins, and on the drain when it starts. */
export interface DrainRequest {
  mode: DrainMode;
  parallel: boolean;
  maxConcurrent: number;
  allowOffline: boolean;
  targetNode: string | null;
  /** ISO time after which no migration starts; null for none. */
  deadline: string | null;
}

/** One VM in a drain's plan, and what has happened to it. */
export interface DrainVm {
  vmid: number;
  name: string;
  cpuCores: number;
  memoryGiB: number;
  tags: string[];
  sourceNode: string;
  /** Fixed for an undrain (back home); chosen when the migration starts for a drain. */
  targetNode: string | null;
  migrationType: MigrationType | null;
  status: VmMigrationStatus;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export type DrainCommand =
  | ({ type: 'StartDrain'; drainId: string; node: string; kind: DrainKind; undoes: string | null; vms: DrainVm[]; at: string } & DrainRequest)
  | { type: 'StartVmMigration'; drainId: string; vmid: number; targetNode: string; at: string }
  | { type: 'CompleteVmMigration'; drainId: string; vmid: number; restarted: boolean; at: string }
  | { type: 'FailVmMigration'; drainId: string; vmid: number; error: string; at: string }
  | { type: 'SkipVm'; drainId: string; vmid: number; reason: string; at: string }
  | { type: 'CancelDrain'; drainId: string; by: string; at: string }
  | { type: 'PassDeadline'; drainId: string; at: string }
  | { type: 'FinishDrain'; drainId: string; at: string };

/** What every drain event says about the drain after it: the counters, the status and the message. */
export type Progress = Counters & { status: DrainStatus; message: string };

type Ev<T extends string, D extends object> = DomainEvent<T, D & { drainId: string; at: string; progress: Progress }>;
export type DrainEvent =
  | Ev<'DrainStarted', { node: string; kind: DrainKind; undoes: string | null; vms: DrainVm[] } & DrainRequest>
  | Ev<'VmMigrationStarted', { vmid: number; sourceNode: string; targetNode: string; migrationType: MigrationType }>
  | Ev<'VmMigrationCompleted', { vmid: number; targetNode: string; restarted: boolean }>
  | Ev<'VmMigrationFailed', { vmid: number; error: string }>
  | Ev<'VmMigrationSkipped', { vmid: number; reason: string }>
  | Ev<'DrainCancelRequested', { by: string }>
  | Ev<'DrainDeadlinePassed', { deadline: string }>
  | Ev<'DrainFinished', { status: DrainStatus; reason: string | null }>;

export interface DrainState {
  id: string | null;
  node: string | null;
  kind: DrainKind;
  request: DrainRequest | null;
  undoes: string | null;
  status: DrainStatus;
  /** The plan's VMs, in the order it runs: one changed VM copies the list, not a record of them all. */
  vms: readonly DrainVm[];
  /** Where each VM id is in `vms` (fixed when the drain starts, shared by every later state). */
  slot: ReadonlyMap<number, number>;
  counters: Counters;
  /** Set once a cancel or the deadline stops new migrations. */
  stopping: { why: 'CANCELED' | 'DEADLINE'; reason: string } | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** Migrations allowed at once: one unless parallel. */
export const concurrencyOf = (r: DrainRequest) => (r.parallel ? r.maxConcurrent : 1);

function requireStarted(s: DrainState, drainId: string): asserts s is DrainState & { id: string; request: DrainRequest } {
  if (!s.id || !s.request) throw new NotFoundError(`drain ${drainId} not found`, { drainId });
}

/** A VM of the plan by its id, or undefined when it is not part of it. */
export function vmOf(s: DrainState, vmid: number): DrainVm | undefined {
  const i = s.slot.get(vmid);
  return i === undefined ? undefined : s.vms[i];
}

function requireVm(s: DrainState, vmid: number): DrainVm {
  const vm = vmOf(s, vmid);
  if (!vm) throw new NotFoundError(`VM ${vmid} is not part of drain ${s.id}`, { drainId: s.id, vmid });
  return vm;
}

function requireRunning(s: DrainState): void {
  if (s.status !== 'IN_PROGRESS') throw new FailedPreconditionError(`drain ${s.id} is ${s.status}: a finished drain does not change`, { drainId: s.id, status: s.status });
}

const notStarted = (s: DrainState) => s.vms.filter((v) => v.status === 'PENDING').length;

/** Why a finished drain ended as it did, for its message. */
function outcome(s: DrainState): { status: DrainStatus; reason: string | null } {
  const pending = notStarted(s);
  const left = pending ? `; ${pending} VM${pending === 1 ? '' : 's'} not started` : '';
  if (s.stopping?.why === 'CANCELED') return { status: 'CANCELED', reason: `${s.stopping.reason}${left}` };
  const failed = s.vms.filter((v) => v.status === 'FAILED');
  const failures = failed.length ? `${failed.slice(0, 3).map((v) => `VM ${v.vmid}: ${v.error}`).join('; ')}${failed.length > 3 ? `; and ${failed.length - 3} more` : ''}` : '';
  if (s.stopping?.why === 'DEADLINE') return { status: 'FAILED', reason: [`${s.stopping.reason}${left}`, failures].filter(Boolean).join('. ') };
  if (failed.length) return { status: 'FAILED', reason: failures };
  return { status: 'COMPLETED', reason: null };
}

function progressOf(s: DrainState): Progress {
  const running = s.status === 'IN_PROGRESS';
  const reason = running && s.stopping ? `${s.stopping.why === 'CANCELED' ? 'canceling' : 'deadline passed'}: no new migrations` : null;
  const finished = running ? null : outcome(s);
  return { ...s.counters, status: s.status, message: progressMessage(s.counters, s.status, finished ? finished.reason : reason) };
}

/** Applies the events, stamping each with the drain's progress after it. */
function stamped(s: DrainState, events: Array<{ type: DrainEvent['type']; data: object }>): DrainEvent[] {
  let cur = s;
  return events.map((e) => {
    const withPlaceholder = { ...e, data: { ...e.data, progress: progressOf(cur) } } as DrainEvent;
    cur = drainDecider.evolve(cur, withPlaceholder);
    return { ...withPlaceholder, data: { ...withPlaceholder.data, progress: progressOf(cur) } } as DrainEvent;
  });
}

function count(vms: readonly DrainVm[]): Counters {
  const c: Counters = { totalVMs: vms.length, completedVMs: 0, failedVMs: 0, skippedVMs: 0, inFlight: 0 };
  for (const vm of vms) {
    const st = vm.status;
    if (st === 'COMPLETED') c.completedVMs++;
    else if (st === 'FAILED') c.failedVMs++;
    else if (st === 'SKIPPED') c.skippedVMs++;
    else if (st === 'IN_PROGRESS') c.inFlight++;
  }
  return c;
}

function withVm(s: DrainState, vmid: number, change: Partial<DrainVm>): DrainState {
  const i = s.slot.get(vmid);
  if (i === undefined) return s;
  const before = s.vms[i];
  const after = { ...before, ...change };
  const c = { ...s.counters };
  const bump = (st: VmMigrationStatus, by: number) => {
    if (st === 'COMPLETED') c.completedVMs += by;
    else if (st === 'FAILED') c.failedVMs += by;
    else if (st === 'SKIPPED') c.skippedVMs += by;
    else if (st === 'IN_PROGRESS') c.inFlight += by;
  };
  bump(before.status, -1);
  bump(after.status, 1);
  const vms = s.vms.slice();
  vms[i] = after;
  return { ...s, vms, counters: c };
}

/**
 * One stream per drain (or undrain): the plan made when it started, then every VM's
 * migration start and end. The bound on migrations in flight is a rule of this stream, so it
 * holds whatever runs the drain.
 */
export const drainDecider: Decider<DrainCommand, DrainEvent, DrainState> = {
  category: 'drain',
  initialState: {
    id: null,
    node: null,
    kind: 'DRAIN',
    request: null,
    undoes: null,
    status: 'IN_PROGRESS',
    vms: [],
    slot: new Map(),
    counters: { totalVMs: 0, completedVMs: 0, failedVMs: 0, skippedVMs: 0, inFlight: 0 },
    stopping: null,
    startedAt: null,
    finishedAt: null,
  },

  decide(c, s) {
    if (c.type === 'StartDrain') {
      if (s.id) return []; // opened already (a resumed start after a crash)
      const { type: _t, ...data } = c;
      return stamped(s, [{ type: 'DrainStarted', data }]);
    }
    requireStarted(s, c.drainId);
    const base = { drainId: c.drainId, at: c.at };
    switch (c.type) {
      case 'StartVmMigration': {
        requireRunning(s);
        const vm = requireVm(s, c.vmid);
        if (vm.status === 'IN_PROGRESS' && vm.targetNode === c.targetNode) return [];
        if (vm.status !== 'PENDING') throw new FailedPreconditionError(`VM ${c.vmid} is ${vm.status} in drain ${s.id}`, { vmid: c.vmid, status: vm.status });
        if (s.stopping) throw new FailedPreconditionError(`drain ${s.id} starts no new migrations: ${s.stopping.reason}`, { drainId: s.id });
        if (s.request.deadline && c.at >= s.request.deadline) throw new FailedPreconditionError(`drain ${s.id} is past its deadline ${s.request.deadline}`, { drainId: s.id });
        const limit = concurrencyOf(s.request);
        if (s.counters.inFlight >= limit) {
          throw new FailedPreconditionError(`drain ${s.id} already has ${s.counters.inFlight} migrations in flight (at most ${limit})`, { drainId: s.id, inFlight: s.counters.inFlight });
        }
        if (vm.targetNode && vm.targetNode !== c.targetNode) throw new FailedPreconditionError(`VM ${c.vmid} goes to ${vm.targetNode} in this drain`, { vmid: c.vmid });
        return stamped(s, [{ type: 'VmMigrationStarted', data: { ...base, vmid: c.vmid, sourceNode: vm.sourceNode, targetNode: c.targetNode, migrationType: vm.migrationType! } }]);
      }
      case 'CompleteVmMigration': {
        const vm = requireVm(s, c.vmid);
        if (vm.status === 'COMPLETED') return [];
        if (vm.status !== 'IN_PROGRESS') throw new FailedPreconditionError(`VM ${c.vmid} is ${vm.status} in drain ${s.id}`, { vmid: c.vmid, status: vm.status });
        return stamped(s, [{ type: 'VmMigrationCompleted', data: { ...base, vmid: c.vmid, targetNode: vm.targetNode!, restarted: c.restarted } }]);
      }
      case 'FailVmMigration': {
        const vm = requireVm(s, c.vmid);
        if (vm.status !== 'PENDING' && vm.status !== 'IN_PROGRESS') return [];
        requireRunning(s);
        return stamped(s, [{ type: 'VmMigrationFailed', data: { ...base, vmid: c.vmid, error: c.error } }]);
      }
      case 'SkipVm': {
        const vm = requireVm(s, c.vmid);
        if (vm.status !== 'PENDING') return [];
        requireRunning(s);
        return stamped(s, [{ type: 'VmMigrationSkipped', data: { ...base, vmid: c.vmid, reason: c.reason } }]);
      }
      case 'CancelDrain': {
        requireRunning(s);
        if (s.stopping) return [];
        return stamped(s, [{ type: 'DrainCancelRequested', data: { ...base, by: c.by } }]);
      }
      case 'PassDeadline': {
        if (s.status !== 'IN_PROGRESS' || s.stopping || !s.request.deadline) return [];
        if (c.at < s.request.deadline) throw new FailedPreconditionError(`drain ${s.id}'s deadline ${s.request.deadline} has not passed`, { drainId: s.id });
        return stamped(s, [{ type: 'DrainDeadlinePassed', data: { ...base, deadline: s.request.deadline } }]);
      }
      case 'FinishDrain': {
        if (s.status !== 'IN_PROGRESS') return [];
        if (s.counters.inFlight > 0) throw new FailedPreconditionError(`drain ${s.id} has ${s.counters.inFlight} migrations in flight`, { drainId: s.id });
        if (!s.stopping && notStarted(s) > 0) throw new FailedPreconditionError(`drain ${s.id} has VMs not yet migrated`, { drainId: s.id });
        return stamped(s, [{ type: 'DrainFinished', data: { ...base, ...outcome(s) } }]);
      }
    }
  },

  evolve(s, e) {
    switch (e.type) {
      case 'DrainStarted': {
        const d = e.data;
        const vms = d.vms;
        const slot = new Map(vms.map((vm, i) => [vm.vmid, i]));
        const request: DrainRequest = { mode: d.mode, parallel: d.parallel, maxConcurrent: d.maxConcurrent, allowOffline: d.allowOffline, targetNode: d.targetNode, deadline: d.deadline };
        return { ...s, id: d.drainId, node: d.node, kind: d.kind, undoes: d.undoes, request, status: 'IN_PROGRESS', vms, slot, counters: count(vms), startedAt: d.at };
      }
      case 'VmMigrationStarted':
        return withVm(s, e.data.vmid, { status: 'IN_PROGRESS', targetNode: e.data.targetNode, startedAt: e.data.at });
      case 'VmMigrationCompleted':
        return withVm(s, e.data.vmid, { status: 'COMPLETED', finishedAt: e.data.at });
      case 'VmMigrationFailed':
        return withVm(s, e.data.vmid, { status: 'FAILED', error: e.data.error, finishedAt: e.data.at });
      case 'VmMigrationSkipped':
        return withVm(s, e.data.vmid, { status: 'SKIPPED', error: e.data.reason, finishedAt: e.data.at });
      case 'DrainCancelRequested':
        return { ...s, stopping: { why: 'CANCELED', reason: `canceled by ${e.data.by}` } };
      case 'DrainDeadlinePassed':
        return { ...s, stopping: { why: 'DEADLINE', reason: `deadline ${e.data.deadline} passed` } };
      case 'DrainFinished':
        return { ...s, status: e.data.status, finishedAt: e.data.at };
      default:
        return s;
    }
  },
};
