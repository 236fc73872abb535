import { Inject } from '@nestjs/common';
import { Args, ID, Int, Query, Resolver } from '@nestjs/graphql';
import { GraphQLDateTime } from 'graphql-scalars';
import { drainDecider, drainStream } from '../drains/drain.decider';
import { EVENT_STORE, EventStore, RecordedEvent, StreamNotFoundError } from '../event-store/event-store.port';
import { Allow } from '../graphql/roles';
import { instanceDecider, instanceStream } from '../instances/instance.decider';
import { derive, machineDecider, machineStream, notAllocatable } from '../machines/machine.decider';
import { Decider, DomainEvent } from '../messaging/decider';
import { BadInputError, NotFoundError } from '../messaging/domain-errors';
import { DrainAt, InstanceAt, MachineAt } from './audit.types';

interface Moment {
  asOf: Date | null;
  revision: number | null;
}

/**
 * Time travel: a stream folded up to a moment (recorded at or before `asOf`) or a revision,
 * by the same `evolve` as the live state. Only the events up to the cut are read.
 */
@Resolver()
export class TimeTravelResolver {
  constructor(@Inject(EVENT_STORE) private readonly log: EventStore) {}

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => MachineAt, { description: 'The machine as it was at `asOf` (recorded at or before) or at `revision`.' })
  async machineAt(
    @Args('id', { type: () => ID }) id: string,
    @Args('asOf', { type: () => GraphQLDateTime, nullable: true }) asOf: Date | null,
    @Args('revision', { type: () => Int, nullable: true }) revision: number | null,
  ): Promise<MachineAt> {
    const { state: s, last } = await this.foldAt(machineDecider, machineStream(id), 'machine', id, { asOf, revision });
    const d = derive(s);
    return {
      id,
      revision: last.revision,
      recordedAt: last.recordedAt,
      phase: s.phase!,
      effectiveState: d.effectiveState,
      allocatable: d.allocatable,
      notAllocatableBecause: d.allocatable ? null : (notAllocatable(s) ?? (s.conditions.REACHABLE?.status === false ? 'it is unreachable' : 'it is not allocatable')),
      labels: s.labels,
      conditions: s.conditions,
      healthOverrides: s.overrides,
      instance: s.instance?.instanceId ?? null,
      activeOperation: s.active?.operationId ?? null,
    };
  }

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => InstanceAt, { description: 'The instance as it was at `asOf` (recorded at or before) or at `revision`.' })
  async instanceAt(
    @Args('id', { type: () => ID }) id: string,
    @Args('asOf', { type: () => GraphQLDateTime, nullable: true }) asOf: Date | null,
    @Args('revision', { type: () => Int, nullable: true }) revision: number | null,
  ): Promise<InstanceAt> {
    const { state: s, last } = await this.foldAt(instanceDecider, instanceStream(id), 'instance', id, { asOf, revision });
    return {
      id,
      revision: last.revision,
      recordedAt: last.recordedAt,
      tenantId: s.tenantId,
      machineId: s.machineId,
      purpose: s.purpose,
      status: s.status,
      provisioningStatus: s.provisioningStatus,
      released: s.released,
      labels: s.labels,
      attempts: s.attempts,
    };
  }

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => DrainAt, { description: 'The drain (or undrain) as it was at `asOf` (recorded at or before) or at `revision`.' })
  async drainAt(
    @Args('id', { type: () => ID }) id: string,
    @Args('asOf', { type: () => GraphQLDateTime, nullable: true }) asOf: Date | null,
    @Args('revision', { type: () => Int, nullable: true }) revision: number | null,
  ): Promise<DrainAt> {
    const { state: s, last } = await this.foldAt(drainDecider, drainStream(id), 'drain', id, { asOf, revision });
    return {
      id,
      revision: last.revision,
      recordedAt: last.recordedAt,
      node: s.node!,
      kind: s.kind,
      status: s.status,
      ...s.counters,
      vms: [...s.vms],
      startedAt: s.startedAt,
      finishedAt: s.finishedAt,
    };
  }

  private async foldAt<S>(decider: Decider<any, DomainEvent, S>, stream: string, what: string, id: string, at: Moment): Promise<{ state: S; last: RecordedEvent }> {
    if ((at.asOf == null) === (at.revision == null)) throw new BadInputError('asOf', 'give exactly one of asOf and revision');
    if (at.revision != null && at.revision < 0) throw new BadInputError('revision', 'must be 0 or more');
    const cut = at.asOf?.toISOString() ?? null;
    let state = decider.initialState;
    let last: RecordedEvent | null = null;
    try {
      for (let from = 0; ; ) {
        const page = await this.log.readStream(stream, { fromRevision: from, maxCount: 1000 });
        for (const e of page) {
          if (cut !== null ? e.recordedAt > cut : e.revision > at.revision!) return this.found(state, last, what, id);
          state = decider.evolve(state, { type: e.type, data: e.data });
          last = e;
        }
        if (page.length < 1000) break;
        from = page[page.length - 1].revision + 1;
      }
    } catch (err) {
      if (err instanceof StreamNotFoundError) throw new NotFoundError(`${what} ${id} not found`, { [`${what}Id`]: id });
      throw err;
    }
    return this.found(state, last, what, id);
  }

  private found<S>(state: S, last: RecordedEvent | null, what: string, id: string): { state: S; last: RecordedEvent } {
    if (!last) throw new NotFoundError(`${what} ${id} did not exist then`, { [`${what}Id`]: id });
    return { state, last };
  }
}
