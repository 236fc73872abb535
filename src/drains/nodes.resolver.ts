import { Args, Context, ID, Int, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { CommandBus } from '@nestjs/cqrs';
import { commandContext, GqlContext } from '../graphql/request-context';
import { Allow } from '../graphql/roles';
import { Machine } from '../machines/machine.types';
import { DecideCommand } from '../messaging/decide.command';
import { FailedPreconditionError, NotFoundError } from '../messaging/domain-errors';
import { ProjectionsService } from '../messaging/projections.service';
import { Doc, Filter } from '../read-store/read-store.port';
import { CreateVmInput, DisableNodeMaintenanceInput, EnableNodeMaintenanceInput, Node, NodeMaintenance, Vm, VmFilter } from './drain.types';
import { DrainsService } from './drains.service';
import { normaliseTags, vmDecider, vmStream } from './vm.decider';

const READERS = ['OPERATOR', 'AUDITOR', 'ADMIN'] as const;
const OPERATORS = ['OPERATOR', 'ADMIN'] as const;

type Usage = { cpuCores: number; memoryGiB: number; vms: number };

function toNode(m: Doc, usage: Usage | undefined): Node {
  const mt = (m.maintenance ?? {}) as Partial<NodeMaintenance>;
  return {
    name: String(m.id),
    inMaintenance: Boolean(mt.inMaintenance),
    reason: mt.reason ?? null,
    maintenanceStarted: mt.since ?? null,
    maintenanceEnded: mt.endedAt ?? null,
    vmsOnNode: usage?.vms ?? 0,
    lastDrainId: mt.lastDrain ?? null,
    drainStatus: mt.drainStatus ?? null,
    activeDrainId: mt.activeDrain ?? null,
    capacity: (m.capacity as Node['capacity']) ?? null,
    used: { cpuCores: usage?.cpuCores ?? 0, memoryGiB: usage?.memoryGiB ?? 0 },
    allocatable: Boolean(m.allocatable),
  };
}

/** Hypervisor nodes: their maintenance mode, and what runs on them. */
@Resolver(() => Node)
export class NodesResolver {
  constructor(
    private readonly drains: DrainsService,
    private readonly read: ProjectionsService,
  ) {}

  @Allow(...OPERATORS)
  @Mutation(() => Node, { description: 'Puts a hypervisor node in maintenance (no new placements); with `drain: true` also starts a drain in `drainMode`.' })
  async enableNodeMaintenance(@Args('input') input: EnableNodeMaintenanceInput, @Context() ctx: GqlContext): Promise<Node> {
    await this.drains.enableMaintenance(input.node, input.reason, input.drain ? input.drainMode : null, commandContext(ctx));
    return this.node(input.node);
  }

  @Allow(...OPERATORS)
  @Mutation(() => Node, { description: 'Ends maintenance; with `undrain: true` also moves back what the last drain moved away.' })
  async disableNodeMaintenance(@Args('input') input: DisableNodeMaintenanceInput, @Context() ctx: GqlContext): Promise<Node> {
    await this.drains.disableMaintenance(input.node, input.undrain, commandContext(ctx));
    return this.node(input.node);
  }

  @Allow(...READERS)
  @Query(() => Node)
  async node(@Args('name', { type: () => ID }) name: string): Promise<Node> {
    const m = await this.read.findOne('machines', { _id: name });
    if (!m) throw new NotFoundError(`node ${name} not found`, { node: name });
    if (!m.hypervisor) throw new FailedPreconditionError(`machine ${name} is not a hypervisor node`, { node: name });
    const usage = await this.read.findOne('node_usage', { _id: name });
    return toNode(m, usage as unknown as Usage | undefined);
  }

  @Allow(...READERS)
  @Query(() => [Node], { description: 'Every hypervisor node, by name.' })
  async nodes(): Promise<Node[]> {
    const [machines, usage] = await Promise.all([this.read.find('machines', { hypervisor: true }, { sort: { _id: 1 } }), this.read.find('node_usage', {})]);
    const byNode = new Map(usage.map((u) => [u._id, u as unknown as Usage]));
    return machines.map((m) => toNode(m, byNode.get(String(m.id))));
  }
}

/** The VM inventory. */
@Resolver(() => Vm)
export class VmsResolver {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ProjectionsService,
  ) {}

  private async run(vmid: number, command: Parameters<typeof vmDecider.decide>[0], ctx: GqlContext): Promise<Vm> {
    const outcome = await this.bus.execute(new DecideCommand(vmDecider, vmStream(vmid), command, commandContext(ctx)));
    await this.read.waitFor(['vms'], outcome.position);
    return this.vm(vmid);
  }

  @Allow(...OPERATORS)
  @Mutation(() => Vm, { description: 'Records a VM on a hypervisor node; an existing vmid is a CONFLICT.' })
  async createVm(@Args('input') input: CreateVmInput, @Context() ctx: GqlContext): Promise<Vm> {
    const node = await this.read.findOne('machines', { _id: input.node });
    if (!node) throw new NotFoundError(`node ${input.node} not found`, { node: input.node });
    if (!node.hypervisor) throw new FailedPreconditionError(`machine ${input.node} is not a hypervisor node`, { node: input.node });
    return this.run(input.vmid, { type: 'CreateVm', ...input, tags: normaliseTags(input.tags), at: new Date().toISOString() }, ctx);
  }

  @Allow(...OPERATORS)
  @Mutation(() => Vm, { description: "Replaces the VM's tags (a set)." })
  setVmTags(@Args('vmid', { type: () => Int }) vmid: number, @Args('tags', { type: () => [String] }) tags: string[], @Context() ctx: GqlContext): Promise<Vm> {
    return this.run(vmid, { type: 'SetVmTags', vmid, tags, at: new Date().toISOString() }, ctx);
  }

  @Allow(...OPERATORS)
  @Mutation(() => Int, { description: 'Removes a VM from the inventory; returns its vmid.' })
  async deleteVm(@Args('vmid', { type: () => Int }) vmid: number, @Context() ctx: GqlContext): Promise<number> {
    const outcome = await this.bus.execute(new DecideCommand(vmDecider, vmStream(vmid), { type: 'DeleteVm', vmid, at: new Date().toISOString() }, commandContext(ctx)));
    await this.read.waitFor(['vms'], outcome.position);
    return vmid;
  }

  @Allow(...READERS)
  @Query(() => Vm)
  async vm(@Args('vmid', { type: () => Int }) vmid: number): Promise<Vm> {
    const doc = await this.read.findOne('vms', { _id: String(vmid) });
    if (!doc) throw new NotFoundError(`VM ${vmid} not found`, { vmid });
    return doc as unknown as Vm;
  }

  @Allow(...READERS)
  @Query(() => [Vm], { description: 'VMs by vmid; `filter.tags` keeps those carrying all the tags ("where is every always-on VM and is it running").' })
  async vms(@Args('filter', { type: () => VmFilter, nullable: true }) f: VmFilter | null): Promise<Vm[]> {
    const query: Filter = {};
    if (f?.node) query.node = f.node;
    if (f?.status) query.status = f.status;
    if (f?.tags?.length) query.tags = { $all: f.tags };
    return (await this.read.find('vms', query, { sort: { vmid: 1 } })) as unknown as Vm[];
  }
}

/** What a machine shows as a hypervisor node: its VMs and its maintenance mode. */
@Resolver(() => Machine)
export class MachineNodeFieldsResolver {
  constructor(private readonly read: ProjectionsService) {}

  @ResolveField(() => [Vm], { description: 'The VMs on this hypervisor node (operators, auditors and admins only; empty otherwise).' })
  async vms(@Parent() machine: Machine, @Context() ctx: GqlContext): Promise<Vm[]> {
    if (!machine.hypervisor || !ctx.principal || !READERS.includes(ctx.principal.role as (typeof READERS)[number])) return [];
    return (await this.read.find('vms', { node: machine.id }, { sort: { vmid: 1 } })) as unknown as Vm[];
  }

  @ResolveField(() => NodeMaintenance, { nullable: true, description: 'Maintenance mode and drains of a hypervisor node; null for other machines.' })
  maintenance(@Parent() machine: Machine & { maintenance?: NodeMaintenance }): NodeMaintenance | null {
    return machine.hypervisor ? (machine.maintenance ?? null) : null;
  }
}
