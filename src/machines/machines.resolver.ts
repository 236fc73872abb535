import { Args, Context, ID, Int, Mutation, Query, Resolver, Subscription } from '@nestjs/graphql';
import { CommandBus } from '@nestjs/cqrs';
import { Inject } from '@nestjs/common';
import { concatMap, filter, from, map } from 'rxjs';
import { EVENT_STORE, EventStore, StreamNotFoundError } from '../event-store/event-store.port';
import { toAsyncIterator } from '../graphql/async-iterator';
import { commandContext, GqlContext } from '../graphql/request-context';
import { Allow } from '../graphql/roles';
import { labelSelector } from './labels';
import { canSee, visibleMachines } from './machine.visibility';
import { DecideAllCommand, DecideCommand } from '../messaging/decide.command';
import { BadInputError, ConflictError, NotFoundError } from '../messaging/domain-errors';
import { ProjectionsService } from '../messaging/projections.service';
import { Filter } from '../read-store/read-store.port';
import { machineDecider, machineStream } from './machine.decider';
import { Machine, MachineConnection, MachineFilter, machineView, RegisterMachinesInput, SetMachineLabelsInput } from './machine.types';

const encodeCursor = (id: string) => Buffer.from(`m:${id}`).toString('base64url');
function decodeCursor(cursor: string): string {
  const raw = Buffer.from(cursor, 'base64url').toString();
  if (!raw.startsWith('m:')) throw new BadInputError('after', 'not a cursor returned by this query');
  return raw.slice(2);
}

@Resolver(() => Machine)
export class MachinesResolver {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ProjectionsService,
    @Inject(EVENT_STORE) private readonly events: EventStore,
  ) {}

  @Allow('OPERATOR', 'ADMIN')
  @Mutation(() => [Machine], { description: 'Registers machines; an id that exists already is a CONFLICT and nothing is registered.' })
  async registerMachines(@Args('input') input: RegisterMachinesInput, @Context() ctx: GqlContext): Promise<Machine[]> {
    const existing: string[] = [];
    for (const id of input.ids) {
      try {
        await this.events.readStream(machineStream(id), { direction: 'backwards', maxCount: 1 });
        existing.push(id);
      } catch (err) {
        if (!(err instanceof StreamNotFoundError)) throw err;
      }
    }
    if (existing.length) throw new ConflictError(`already registered: ${existing.join(', ')}`, { ids: existing });
    const context = commandContext(ctx);
    // One write to every machine's stream: all of them are registered, or none (a refusal, a
    // concurrent registration of one of them, a full disk).
    const outcomes = await this.bus.execute(
      new DecideAllCommand(
        machineDecider,
        input.ids.map((id) => ({
          stream: machineStream(id),
          command: {
            type: 'RegisterMachine' as const,
            id,
            phase: input.phase as 'FACTORY_READY' | 'READY',
            hypervisor: input.hypervisor,
            capacity: input.capacity ? { cpuCores: input.capacity.cpuCores, memoryGiB: input.capacity.memoryGiB } : null,
            labels: input.labels ?? {},
            at: context.issuedAt,
          },
        })),
        context,
      ),
    );
    const position = Math.max(0, ...outcomes.map((o) => o.position));
    await this.read.waitFor(['machines'], position);
    return (await this.read.find('machines', { _id: { $in: input.ids } })).map(machineView);
  }

  @Allow('OPERATOR', 'ADMIN')
  @Mutation(() => Machine, { description: 'Replaces the labels of a machine.' })
  async setMachineLabels(@Args('input') input: SetMachineLabelsInput, @Context() ctx: GqlContext): Promise<Machine> {
    const context = commandContext(ctx, input.requestId);
    const outcome = await this.bus.execute(
      new DecideCommand(machineDecider, machineStream(input.machineId), { type: 'SetMachineLabels', id: input.machineId, labels: input.labels, at: context.issuedAt }, context),
    );
    await this.read.waitFor(['machines'], outcome.position);
    return this.machine(input.machineId, ctx);
  }

  @Allow('TENANT', 'REPAIR_TENANT', 'OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => Machine)
  async machine(@Args('id', { type: () => ID }) id: string, @Context() ctx: GqlContext): Promise<Machine> {
    const doc = await this.read.findOne('machines', { _id: id, ...visibleMachines(ctx.principal) });
    if (!doc) throw new NotFoundError(`machine ${id} not found`, { machineId: id });
    return machineView(doc);
  }

  @Allow('TENANT', 'REPAIR_TENANT', 'OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => MachineConnection)
  async machines(
    @Args('filter', { type: () => MachineFilter, nullable: true }) f: MachineFilter | null,
    @Args('first', { type: () => Int, defaultValue: 50 }) first: number,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
    @Context() ctx: GqlContext,
  ): Promise<MachineConnection> {
    if (first < 1 || first > 500) throw new BadInputError('first', 'must be between 1 and 500');
    const query: Filter = {};
    if (f?.phase) query.phase = f.phase;
    if (f?.effectiveState) query.effectiveState = f.effectiveState;
    if (f?.condition) query[`conditions.${f.condition}.status`] = true;
    if (f?.hypervisor !== undefined && f?.hypervisor !== null) query.hypervisor = f.hypervisor;
    if (f?.allocatable !== undefined && f?.allocatable !== null) query.allocatable = f.allocatable;
    Object.assign(query, labelSelector(f?.labels, 'filter.labels'));
    Object.assign(query, visibleMachines(ctx.principal));
    const total = await this.read.count('machines', query);
    const page = await this.read.find('machines', after ? { ...query, _id: { $gt: decodeCursor(after) } } : query, {
      sort: { _id: 1 },
      limit: first + 1,
    });
    const nodes = page.slice(0, first).map(machineView);
    return {
      nodes,
      totalCount: total,
      pageInfo: { hasNextPage: page.length > first, endCursor: nodes.length ? encodeCursor(nodes[nodes.length - 1].id) : null },
    };
  }

  @Allow('TENANT', 'REPAIR_TENANT', 'OPERATOR', 'AUDITOR', 'ADMIN')
  @Subscription(() => Machine, {
    description: 'The machine as the read model holds it, after every committed change to it.',
    resolve: (m: Machine) => m,
  })
  machineChanged(@Args('id', { type: () => ID }) id: string, @Context() ctx: GqlContext) {
    const stream = machineStream(id);
    return toAsyncIterator(
      this.read.committedTo('machines', stream).pipe(
        concatMap((c) => from(this.read.findOneAfterCommit('machines', id, c.position))),
        map((doc) => (doc && canSee(ctx.principal, doc) ? machineView(doc) : null)),
        filter((doc): doc is Machine => doc !== null),
      ),
    );
  }
}
