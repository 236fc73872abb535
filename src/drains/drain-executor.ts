import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { Subscription } from 'rxjs';
import { AppConfig } from '../config/config';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { machineDecider, machineStream } from '../machines/machine.decider';
import { CommandContext, CommandPipeline } from '../messaging/command-pipeline';
import { Decider } from '../messaging/decider';
import { Executor, ExecutorHost } from '../messaging/executors';
import { ProjectionsService } from '../messaging/projections.service';
import { MIGRATION_PROVIDER, MigrationProvider } from '../providers/migration-provider.port';
import { concurrencyOf, DrainRequest, DrainState, DrainVm, drainDecider, drainStream } from './drain.decider';
import { ALWAYS_ON, chooseTarget, DrainKind, NodeView, planVm, unsuitable } from './drain.rules';
import { vmDecider, vmStream } from './vm.decider';

type Size = { cpuCores: number; memoryGiB: number };

/** A drain being driven in this process: its migrations in flight, and a way to wake its loop. */
interface Run {
  inFlight: Set<number>;
  wake: () => void;
}

/**
 * Drives drains and undrains in the background. Everything it knows comes from the log: the
 * node's stream says a drain has begun, the drain's stream says what is planned, running and
 * done, each VM's stream says where it is. After a restart it picks every unfinished drain up
 * where its stream left it; each command it sends carries a requestId derived from (drain,
 * VM, step), so a step repeated after a crash records nothing twice and no VM moves twice.
 */
@Injectable()
export class DrainExecutor implements Executor {
  private readonly runs = new Map<string, Run>();
  /** Capacity promised to migrations whose move the `vms` read model does not show yet, by node. */
  private readonly reserved = new Map<string, Size>();
  private nodesCache: { nodes: NodeView[] } | null = null;
  private nodesGeneration = 0;
  private subscriptions: Subscription[] = [];
  private stopped = true;

  constructor(
    private readonly pipeline: CommandPipeline,
    private readonly projections: ProjectionsService,
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(MIGRATION_PROVIDER) private readonly provider: MigrationProvider,
    private readonly config: AppConfig,
    private readonly logger: PinoLogger,
    host: ExecutorHost,
  ) {
    this.logger.setContext('drains');
    host.register(this);
  }

  async start(): Promise<void> {
    this.stopped = false;
    const startHead = await this.events.headPosition();
    this.subscriptions.push(
      this.projections.committedBy('drains').subscribe((c) => {
        for (const e of c.events) {
          if (e.type === 'DrainStarted' && e.position > startHead) this.schedule(String(e.data.drainId));
          if (e.type === 'DrainCancelRequested') this.runs.get(String(e.data.drainId))?.wake();
        }
      }),
      // Placement reads nodes and usage again after they change.
      this.projections.committedBy('machines').subscribe(() => this.invalidateNodes()),
      this.projections.committedBy('vms').subscribe(() => this.invalidateNodes()),
    );
    void this.resume(startHead).catch((err) => this.logger.error({ err }, 'resuming drains failed'));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
    for (const r of this.runs.values()) r.wake();
  }

  /** Drains recorded before this process started: unopened, unfinished, or finished but still holding their node. */
  private async resume(head: number): Promise<void> {
    await this.projections.caughtUp(['drains', 'machines', 'vms'], head);
    // Only hypervisor nodes are drained: the indexed equality keeps this from reading the whole fleet.
    const held = await this.projections.find('machines', { hypervisor: true, 'maintenance.activeDrain': { $type: 'string' } });
    for (const m of held) {
      const node = String(m.id);
      const { state } = await this.pipeline.load(machineDecider, machineStream(node));
      const begun = state.node.activeDrain;
      if (!begun) continue;
      const drain = await this.pipeline.load(drainDecider, drainStream(begun.drainId));
      if (!drain.state.id) {
        this.logger.info({ node, drainId: begun.drainId }, 'opening a drain the node began before the restart');
        await this.open(node, begun, await this.contextOfNodeBegin(node, begun.drainId));
      }
      this.schedule(begun.drainId);
    }
    const open = await this.projections.find('drains', { status: 'IN_PROGRESS' });
    if (open.length) this.logger.info({ drains: open.length }, 'resuming unfinished drains');
    for (const d of open) this.schedule(String(d.id));
  }

  private async contextOfNodeBegin(node: string, drainId: string): Promise<CommandContext> {
    const history = await this.events.readStream(machineStream(node), { direction: 'backwards', maxCount: 200 });
    const began = history.find((e) => e.type === 'NodeDrainBegan' && e.data.drainId === drainId);
    return {
      actor: began?.metadata.actor ?? 'drains',
      correlationId: began?.metadata.correlationId ?? drainId,
      causationId: began?.id ?? null,
      requestId: null,
      issuedAt: new Date().toISOString(),
    };
  }

  /**
   * Plans a drain the node has begun and records its start (a second call finds it started
   * and records nothing). The plan: every VM on the node by the tag table, or for an undrain
   * every VM the node's last drain moved away that is still where that drain put it.
   * Returns the position the start reached (0 when it was already started).
   */
  async open(node: string, begun: { drainId: string; kind: DrainKind; request: DrainRequest }, context: CommandContext): Promise<number> {
    await this.projections.settle(['vms'], await this.events.headPosition());
    let vms: DrainVm[];
    let undoes: string | null = null;
    if (begun.kind === 'DRAIN') {
      const docs = await this.projections.find('vms', { node }, { sort: { vmid: 1 } });
      vms = docs.map((d) => {
        const tags = d.tags as string[];
        const plan = planVm(tags, begun.request.mode, begun.request.allowOffline);
        return {
          ...this.vmBase(d, node, begun.request.targetNode),
          tags,
          migrationType: plan.action === 'MIGRATE' ? plan.migrationType : null,
          status: plan.action === 'MIGRATE' ? 'PENDING' : 'SKIPPED',
          error: plan.action === 'SKIP' ? plan.reason : null,
        };
      });
    } else {
      const { state } = await this.pipeline.load(machineDecider, machineStream(node));
      undoes = state.node.lastDrainAway;
      const away = undoes ? (await this.pipeline.load(drainDecider, drainStream(undoes))).state : null;
      const moved = away ? away.vms.filter((v) => v.status === 'COMPLETED') : [];
      const docs = await this.projections.find('vms', { vmid: { $in: moved.map((v) => v.vmid) } });
      const now = new Map(docs.map((d) => [Number(d.vmid), d]));
      vms = moved.map((v) => {
        const d = now.get(v.vmid);
        const skip = !d
          ? `deleted since drain ${undoes}`
          : d.node === node
            ? `already back on ${node}`
            : d.node !== v.targetNode
              ? `moved by someone else since drain ${undoes} (now on ${String(d.node)})`
              : null;
        return {
          ...(d ? this.vmBase(d, String(d.node), node) : { vmid: v.vmid, name: v.name, cpuCores: v.cpuCores, memoryGiB: v.memoryGiB, sourceNode: v.targetNode ?? '', targetNode: node, startedAt: null, finishedAt: null }),
          tags: d ? (d.tags as string[]) : v.tags,
          migrationType: v.migrationType,
          status: skip ? 'SKIPPED' : 'PENDING',
          error: skip,
        };
      });
    }
    const outcome = await this.pipeline.run(
      drainDecider,
      drainStream(begun.drainId),
      { type: 'StartDrain', drainId: begun.drainId, node, kind: begun.kind, undoes, vms, at: context.issuedAt, ...begun.request },
      { ...context, requestId: null },
    );
    return outcome.position;
  }

  private vmBase(d: Record<string, unknown>, source: string, target: string | null) {
    return {
      vmid: Number(d.vmid),
      name: String(d.name),
      cpuCores: Number(d.cpuCores),
      memoryGiB: Number(d.memoryGiB),
      sourceNode: source,
      targetNode: target,
      startedAt: null,
      finishedAt: null,
    };
  }

  private schedule(drainId: string): void {
    if (this.stopped || this.runs.has(drainId)) return;
    const run: Run = { inFlight: new Set(), wake: () => undefined };
    this.runs.set(drainId, run);
    this.drive(drainId, run)
      .catch((err) => this.logger.error({ err, drainId }, 'drain driver stopped on an unexpected error'))
      .finally(() => this.runs.delete(drainId));
  }

  private async drive(drainId: string, run: Run): Promise<void> {
    const [first] = await this.events.readStream(drainStream(drainId), { maxCount: 1 });
    const context = (step: string): CommandContext => ({
      actor: `drains (for ${first.metadata.actor})`,
      correlationId: first.metadata.correlationId,
      causationId: first.id,
      requestId: `${drainId}:${step}`,
      issuedAt: new Date().toISOString(),
    });
    let deadlineTimer: NodeJS.Timeout | undefined;
    try {
      for (;;) {
        if (this.stopped) return;
        const wakeUp = new Promise<void>((resolve) => (run.wake = resolve));
        const { state } = await this.pipeline.load(drainDecider, drainStream(drainId));
        const request = state.request!;
        if (state.status !== 'IN_PROGRESS') {
          await this.release(state, context);
          return;
        }
        if (request.deadline && !state.stopping) {
          const left = Date.parse(request.deadline) - Date.now();
          if (left <= 0) {
            await this.send(drainDecider, drainStream(drainId), { type: 'PassDeadline', drainId, at: new Date().toISOString() }, context('deadline'));
            this.logger.warn({ drainId, node: state.node, deadline: request.deadline }, 'drain deadline passed: no new migrations');
            continue;
          }
          if (!deadlineTimer) deadlineTimer = setTimeout(() => run.wake(), Math.min(left, 2 ** 31 - 1));
        }
        // Migrations the log says are running but this process is not driving: resumed after a restart.
        for (const vm of state.vms) {
          if (vm.status === 'IN_PROGRESS' && !run.inFlight.has(vm.vmid)) this.launch(drainId, state, vm, run, context);
        }
        const pending = state.vms.filter((vm) => vm.status === 'PENDING' && !run.inFlight.has(vm.vmid));
        if ((state.stopping || pending.length === 0) && run.inFlight.size === 0) {
          await this.send(drainDecider, drainStream(drainId), { type: 'FinishDrain', drainId, at: new Date().toISOString() }, context('finish'));
          continue;
        }
        if (!state.stopping) {
          const limit = concurrencyOf(request);
          for (const vm of pending) {
            if (run.inFlight.size >= limit) break;
            this.launch(drainId, state, vm, run, context);
          }
        }
        await wakeUp;
      }
    } finally {
      clearTimeout(deadlineTimer);
    }
  }

  private launch(drainId: string, state: DrainState, vm: DrainVm, run: Run, context: (step: string) => CommandContext): void {
    run.inFlight.add(vm.vmid);
    this.migrateOne(drainId, state, vm, context)
      .catch((err) => this.logger.error({ err, drainId, vmid: vm.vmid }, 'migration step failed unexpectedly; it is retried when the drain resumes'))
      .finally(() => {
        run.inFlight.delete(vm.vmid);
        run.wake();
      });
  }

  /** One VM: choose a target, record the start, migrate, record the move, verify always-on, record the end. */
  private async migrateOne(drainId: string, state: DrainState, vm: DrainVm, context: (step: string) => CommandContext): Promise<void> {
    const stream = drainStream(drainId);
    const step = (s: string) => context(`${vm.vmid}:${s}`);
    const fail = (error: string) => this.send(drainDecider, stream, { type: 'FailVmMigration', drainId, vmid: vm.vmid, error, at: new Date().toISOString() }, step('failed'));
    let target = vm.targetNode;
    let reservedOn: string | null = null;
    try {
      if (vm.status === 'PENDING') {
        // An undrain's target is fixed (home); a drain's is pinned by the request or chosen now.
        // Choosing and reserving happen in one synchronous step, so concurrent choices see each other.
        const nodes = await this.nodes();
        const choice = chooseTarget(vm, vm.sourceNode, this.withReservations(nodes), target);
        if ('error' in choice) {
          this.logger.warn({ drainId, vmid: vm.vmid, reason: choice.error }, 'VM cannot be migrated');
          await fail(choice.error);
          return;
        }
        target = choice.target;
        this.reserve(target, vm, 1);
        reservedOn = target;
        const started = await this.send(drainDecider, stream, { type: 'StartVmMigration', drainId, vmid: vm.vmid, targetNode: target, at: new Date().toISOString() }, step('start'));
        if (!started) return; // stopped or canceled meanwhile: the VM stays PENDING
      } else {
        this.reserve(target!, vm, 1);
        reservedOn = target;
      }
      const to = target!;
      const now = (await this.pipeline.load(vmDecider, vmStream(vm.vmid))).state;
      if (!now.spec || now.deleted) {
        await fail(`VM ${vm.vmid} was deleted during the ${state.kind === 'DRAIN' ? 'drain' : 'undrain'}`);
        return;
      }
      if (now.spec.node !== to) {
        if (now.spec.node !== vm.sourceNode) {
          await fail(`VM ${vm.vmid} was moved by someone else to ${now.spec.node}`);
          return;
        }
        const timeout = this.config.drains.migration_timeout_ms;
        const signal = AbortSignal.timeout(timeout);
        try {
          const result = await this.provider.migrate({ drainId, vmid: vm.vmid, name: vm.name, tags: now.spec.tags, from: vm.sourceNode, to, migrationType: vm.migrationType! }, signal);
          for (const line of result.log) this.logger.info({ drainId, vmid: vm.vmid }, line);
        } catch (err) {
          const message = signal.aborted ? `migration timed out after ${timeout} ms` : (err as Error).message;
          this.logger.warn({ drainId, vmid: vm.vmid, from: vm.sourceNode, to, error: message }, 'migration failed');
          await fail(message);
          return;
        }
        const moved = await this.send(vmDecider, vmStream(vm.vmid), { type: 'MoveVm', vmid: vm.vmid, from: vm.sourceNode, to, migrationType: vm.migrationType!, drainId, at: new Date().toISOString() }, step('move'));
        if (!moved) {
          await fail(`VM ${vm.vmid} could not be recorded on ${to}: it changed during the migration`);
          return;
        }
        void this.projections.settle(['vms'], moved.position).then(() => this.unreserve(to, vm));
        reservedOn = null;
      }
      const restarted = now.spec.tags.includes(ALWAYS_ON) ? await this.keepRunning(drainId, vm.vmid, to, now.spec.tags, step) : false;
      await this.send(drainDecider, stream, { type: 'CompleteVmMigration', drainId, vmid: vm.vmid, restarted, at: new Date().toISOString() }, step('done'));
    } finally {
      if (reservedOn) this.unreserve(reservedOn, vm);
    }
  }

  /** An always-on VM is checked after it moves; found stopped, it is started. Both facts are events. */
  private async keepRunning(drainId: string, vmid: number, node: string, tags: readonly string[], step: (s: string) => CommandContext): Promise<boolean> {
    const signal = AbortSignal.timeout(this.config.drains.migration_timeout_ms);
    if ((await this.provider.powerState({ vmid, node, tags }, signal)) === 'running') return false;
    this.logger.warn({ drainId, vmid, node }, 'always-on VM found stopped after migration; starting it');
    await this.send(vmDecider, vmStream(vmid), { type: 'RecordVmStopped', vmid, reason: `found stopped on ${node} after migration (drain ${drainId})`, at: new Date().toISOString() }, step('stopped'));
    await this.provider.start({ vmid, node, tags }, signal);
    await this.send(vmDecider, vmStream(vmid), { type: 'RecordVmStarted', vmid, reason: `started on ${node}: always-on (drain ${drainId})`, at: new Date().toISOString() }, step('started'));
    this.logger.info({ drainId, vmid, node }, 'always-on VM started');
    return true;
  }

  private invalidateNodes(): void {
    this.nodesCache = null;
    this.nodesGeneration++;
  }

  /** The hypervisor nodes with what their VMs take, as the read models say. */
  private async nodes(): Promise<NodeView[]> {
    if (!this.nodesCache) {
      const generation = this.nodesGeneration;
      const [machines, usage] = await Promise.all([this.projections.find('machines', { hypervisor: true }), this.projections.find('node_usage', {})]);
      const used = new Map(usage.map((u) => [u._id, { cpuCores: Number(u.cpuCores), memoryGiB: Number(u.memoryGiB) }]));
      const nodes: NodeView[] = machines.map((m) => ({
          name: String(m.id),
          capacity: m.capacity as Size | null,
          used: used.get(String(m.id)) ?? { cpuCores: 0, memoryGiB: 0 },
          inMaintenance: Boolean((m.maintenance as { inMaintenance?: boolean } | undefined)?.inMaintenance),
          allocatable: Boolean(m.allocatable),
        }));
      // A commit while reading makes this view old already: use it once, keep it only if nothing changed.
      if (generation === this.nodesGeneration) this.nodesCache = { nodes };
      return nodes;
    }
    return this.nodesCache.nodes;
  }

  /** The same, with what running migrations have promised to each node. */
  private withReservations(nodes: readonly NodeView[]): NodeView[] {
    return nodes.map((n) => {
      const r = this.reserved.get(n.name);
      return r ? { ...n, used: { cpuCores: n.used.cpuCores + r.cpuCores, memoryGiB: n.used.memoryGiB + r.memoryGiB } } : n;
    });
  }

  private reserve(node: string, vm: Size, sign: 1 | -1): void {
    const r = this.reserved.get(node) ?? { cpuCores: 0, memoryGiB: 0 };
    const next = { cpuCores: r.cpuCores + sign * vm.cpuCores, memoryGiB: r.memoryGiB + sign * vm.memoryGiB };
    if (next.cpuCores <= 0 && next.memoryGiB <= 0) this.reserved.delete(node);
    else this.reserved.set(node, next);
  }

  private unreserve(node: string, vm: Size): void {
    this.reserve(node, vm, -1);
  }

  /** A finished drain lets go of its node. */
  private async release(state: DrainState, context: (step: string) => CommandContext): Promise<void> {
    await this.send(machineDecider, machineStream(state.node!), { type: 'EndDrain', id: state.node!, drainId: state.id!, status: state.status, at: new Date().toISOString() }, context('end'));
    this.logger.info({ drainId: state.id, node: state.node, kind: state.kind, status: state.status, ...state.counters }, `${state.kind === 'DRAIN' ? 'drain' : 'undrain'} finished`);
  }

  /** Sends a command; a domain refusal (the drain moved on meanwhile) is an answer, not an error. */
  private send<C>(decider: Decider<C, any, any>, stream: string, command: C, context: CommandContext) {
    return this.pipeline.runUnlessRefused(decider, stream, command, context);
  }

  /** Whether a node could take VMs at all now (for refusing a pinned target at once). */
  async whyNotTarget(target: string, source: string): Promise<string | null> {
    const nodes = this.withReservations(await this.nodes());
    const n = nodes.find((x) => x.name === target);
    if (!n) return `${target} is not a hypervisor node`;
    return unsuitable(n, { cpuCores: 0, memoryGiB: 0 }, source);
  }
}
