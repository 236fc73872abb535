import { Inject, Module } from '@nestjs/common';
import { Args, Field, ID, InputType, Int, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { ArrayMaxSize, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { AllFilter, EVENT_STORE, EventStore, RecordedEvent, StreamNotFoundError } from '../event-store/event-store.port';
import { derive, MachineEvent, machineDecider, machineStream, notAllocatable } from '../machines/machine.decider';
import { PositionScalar } from '../graphql/scalars';
import { Allow } from '../graphql/roles';
import { BadInputError, NotFoundError } from '../messaging/domain-errors';

@ObjectType()
export class EventMetadataView {
  @Field() actor!: string;
  @Field() correlationId!: string;
  @Field(() => String, { nullable: true }) causationId!: string | null;
  @Field(() => String, { nullable: true }) requestId!: string | null;
  @Field(() => GraphQLDateTime) occurredAt!: string;
  @Field(() => Int) schemaVersion!: number;
}

@ObjectType('RecordedEvent')
export class RecordedEventView {
  @Field(() => ID) id!: string;
  @Field() stream!: string;
  @Field(() => Int) revision!: number;
  @Field(() => PositionScalar) position!: number;
  @Field() type!: string;
  @Field(() => GraphQLJSON) data!: Record<string, unknown>;
  @Field(() => EventMetadataView) metadata!: EventMetadataView;
  @Field(() => GraphQLDateTime) recordedAt!: string;
}

@ObjectType()
export class EventPageInfo {
  @Field(() => PositionScalar, { nullable: true }) startCursor!: number | null;
  @Field(() => PositionScalar, { nullable: true }) endCursor!: number | null;
  @Field({ description: 'more events after endCursor (forwards) or before startCursor (backwards)' }) hasMore!: boolean;
}

@ObjectType()
export class EventConnection {
  @Field(() => [RecordedEventView]) nodes!: RecordedEventView[];
  @Field(() => EventPageInfo) pageInfo!: EventPageInfo;
}

@InputType()
export class EventFilter {
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(200) stream?: string | null;
  @Field(() => String, { nullable: true, description: 'machine, instance, drain, vm, operation...' }) @IsOptional() @IsString() @Matches(/^[a-z]{1,40}$/) category?: string | null;
  @Field(() => [String], { nullable: true }) @IsOptional() @ArrayMaxSize(50) @IsString({ each: true }) types?: string[] | null;
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(200) correlationId?: string | null;
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(300) actor?: string | null;
  @Field(() => GraphQLDateTime, { nullable: true, description: 'recorded at or after' }) @IsOptional() from?: Date | null;
  @Field(() => GraphQLDateTime, { nullable: true, description: 'recorded before' }) @IsOptional() to?: Date | null;
}

/**
 * The recorded history, read from the event store itself (never a read model), so it is
 * always complete: filtered, in log order, paged by position forwards or backwards.
 */
@Resolver(() => RecordedEventView)
export class AuditResolver {
  constructor(@Inject(EVENT_STORE) private readonly log: EventStore) {}

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => EventConnection, { description: 'Recorded events with all their metadata. `after` pages forwards; `before` pages backwards (newest first).' })
  async events(
    @Args('filter', { type: () => EventFilter, nullable: true }) f: EventFilter | null,
    @Args('first', { type: () => Int, defaultValue: 100 }) first: number,
    @Args('after', { type: () => PositionScalar, nullable: true }) after: number | null,
    @Args('before', { type: () => PositionScalar, nullable: true }) before: number | null,
  ): Promise<EventConnection> {
    if (first < 1 || first > 1000) throw new BadInputError('first', 'must be between 1 and 1000');
    if (after != null && before != null) throw new BadInputError('before', 'give after or before, not both');
    const backwards = before != null;
    const store: AllFilter = {};
    if (f?.stream) store.streamPrefixes = [f.stream];
    else if (f?.category) store.streamPrefixes = [`${f.category}-`];
    if (f?.types?.length) store.eventTypes = f.types;
    const from = f?.from?.toISOString() ?? null;
    const to = f?.to?.toISOString() ?? null;
    const keep = (e: RecordedEvent) =>
      (!f?.stream || e.stream === f.stream) &&
      (!f?.correlationId || e.metadata.correlationId === f.correlationId) &&
      (!f?.actor || e.metadata.actor === f.actor) &&
      (!from || e.recordedAt >= from) &&
      (!to || e.recordedAt < to);
    const found: RecordedEvent[] = [];
    let cursor: number | undefined = backwards ? before! : (after ?? undefined);
    let exhausted = false;
    while (found.length <= first) {
      const page = await this.log.readAll({ direction: backwards ? 'backwards' : 'forwards', from: cursor, maxCount: 1000, filter: store });
      for (const e of page) if (keep(e)) found.push(e);
      if (page.length < 1000) {
        exhausted = true;
        break;
      }
      cursor = page[page.length - 1].position;
    }
    const nodes = found.slice(0, first) as unknown as RecordedEventView[];
    return {
      nodes,
      pageInfo: {
        startCursor: nodes.length ? nodes[0].position : null,
        endCursor: nodes.length ? nodes[nodes.length - 1].position : null,
        hasMore: found.length > first || !exhausted,
      },
    };
  }
}

@ObjectType({ description: 'A machine as it was at a past moment or revision, folded from its log by the same evolve as the live state.' })
export class MachineAt {
  @Field(() => ID) id!: string;
  @Field(() => Int, { description: 'the last revision included' }) revision!: number;
  @Field(() => GraphQLDateTime, { description: 'when that revision was recorded' }) recordedAt!: string;
  @Field() phase!: string;
  @Field() effectiveState!: string;
  @Field() allocatable!: boolean;
  @Field(() => String, { nullable: true, description: 'why it was not allocatable then' }) notAllocatableBecause!: string | null;
  @Field(() => GraphQLJSON) labels!: Record<string, string>;
  @Field(() => GraphQLJSON, { description: 'conditions by type' }) conditions!: Record<string, unknown>;
  @Field(() => GraphQLJSON, { description: 'health overrides by source, with who added them and why' }) healthOverrides!: Record<string, unknown>;
  @Field(() => ID, { nullable: true }) instance!: string | null;
  @Field(() => ID, { nullable: true }) activeOperation!: string | null;
}

@Resolver(() => MachineAt)
export class TimeTravelResolver {
  constructor(@Inject(EVENT_STORE) private readonly log: EventStore) {}

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => MachineAt, { description: 'The machine as it was at `asOf` (recorded at or before) or at `revision`.' })
  async machineAt(
    @Args('id', { type: () => ID }) id: string,
    @Args('asOf', { type: () => GraphQLDateTime, nullable: true }) asOf: Date | null,
    @Args('revision', { type: () => Int, nullable: true }) revision: number | null,
  ): Promise<MachineAt> {
    if ((asOf == null) === (revision == null)) throw new BadInputError('asOf', 'give exactly one of asOf and revision');
    let history: RecordedEvent[];
    try {
      history = await this.log.readStream(machineStream(id));
    } catch (err) {
      if (err instanceof StreamNotFoundError) throw new NotFoundError(`machine ${id} not found`, { machineId: id });
      throw err;
    }
    const cut = asOf != null ? asOf.toISOString() : null;
    const upTo = history.filter((e) => (cut !== null ? e.recordedAt <= cut : e.revision <= revision!));
    if (upTo.length === 0) throw new NotFoundError(`machine ${id} did not exist then`, { machineId: id });
    const s = upTo.reduce((st, e) => machineDecider.evolve(st, { type: e.type, data: e.data } as MachineEvent), machineDecider.initialState);
    const d = derive(s);
    const last = upTo[upTo.length - 1];
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
}

@Module({ providers: [AuditResolver, TimeTravelResolver] })
export class AuditModule {}
