import { Inject } from '@nestjs/common';
import { Args, Context, Field, ID, InputType, Int, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { GraphQLDateTime } from 'graphql-scalars';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { commandContext, GqlContext } from '../graphql/request-context';
import { Allow } from '../graphql/roles';
import { MACHINE_ID } from '../machines/machine.types';
import { BadInputError, NotFoundError } from '../messaging/domain-errors';
import { ProjectionsService } from '../messaging/projections.service';
import { Filter } from '../read-store/read-store.port';
import { HealthChecksService } from './health-checks.service';

@ObjectType()
export class RecoveryAttempt {
  @Field(() => Int) attempt!: number;
  @Field({ description: 'RUNNING, SUCCEEDED or FAILED' }) outcome!: string;
  @Field(() => String, { nullable: true }) error!: string | null;
  @Field(() => Int, { nullable: true }) durationMs!: number | null;
  @Field(() => GraphQLDateTime, { nullable: true }) startedAt!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) finishedAt!: string | null;
}

@ObjectType({ description: 'An automatic or manual recovery of a machine or VM.' })
export class Recovery {
  @Field(() => ID) id!: string;
  @Field({ description: '`machine` or `vm`' }) kind!: string;
  @Field(() => ID) targetId!: string;
  @Field() reason!: string;
  @Field() manual!: boolean;
  @Field({ description: 'IN_PROGRESS, SUCCEEDED, ESCALATED (needs a person) or ENDED (the target came back by itself)' }) status!: string;
  @Field(() => Int) maxRetries!: number;
  @Field(() => [RecoveryAttempt]) attempts!: RecoveryAttempt[];
  @Field(() => String, { nullable: true }) lastError!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) nextAttemptAt!: string | null;
  @Field() requestedBy!: string;
  @Field(() => GraphQLDateTime) startedAt!: string;
  @Field(() => GraphQLDateTime, { nullable: true }) finishedAt!: string | null;
}

@ObjectType()
export class FleetHealth {
  @Field() healthChecks!: boolean;
  @Field() recovery!: boolean;
  @Field({ description: 'storm control has paused automatic recovery' }) autoRecoveryPaused!: boolean;
  @Field(() => GraphQLDateTime, { nullable: true }) pausedOrResumedAt!: string | null;
  @Field(() => Int) unhealthyMachines!: number;
  @Field(() => Int) unhealthyVms!: number;
  @Field(() => Int) orphanedVms!: number;
  @Field(() => Int) recoveriesInProgress!: number;
}

@InputType()
export class TriggerRecoveryInput {
  @Field(() => ID, { nullable: true }) @IsOptional() @IsString() @Matches(MACHINE_ID) machineId?: string | null;
  @Field(() => Int, { nullable: true }) @IsOptional() @IsInt() @Min(1) @Max(999_999_999) vmid?: number | null;
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(500) reason?: string | null;
  @Field(() => String, { nullable: true, description: 'the same requestId again returns the same recovery' }) @IsOptional() @IsString() @MaxLength(128) requestId?: string | null;
}

@InputType()
export class RecoveryFilter {
  @Field(() => String, { nullable: true }) @IsOptional() @IsIn(['IN_PROGRESS', 'SUCCEEDED', 'ESCALATED', 'ENDED']) status?: string | null;
  @Field(() => String, { nullable: true }) @IsOptional() @IsIn(['machine', 'vm']) kind?: string | null;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsString() targetId?: string | null;
}

const READERS = ['OPERATOR', 'AUDITOR', 'ADMIN'] as const;

/** Recoveries and storm control, for operators. */
@Resolver(() => Recovery)
export class RecoveryResolver {
  constructor(
    private readonly health: HealthChecksService,
    private readonly read: ProjectionsService,
    @Inject(EVENT_STORE) private readonly events: EventStore,
  ) {}

  @Allow('OPERATOR', 'ADMIN')
  @Mutation(() => Recovery, { description: 'Recovers a machine or VM now: recorded and run even while storm control pauses automatic recovery.' })
  async triggerRecovery(@Args('input') input: TriggerRecoveryInput, @Context() ctx: GqlContext): Promise<Recovery> {
    if ((input.machineId ? 1 : 0) + (input.vmid ? 1 : 0) !== 1) throw new BadInputError('machineId', 'give exactly one of machineId and vmid');
    const target = input.machineId ? { kind: 'machine' as const, id: input.machineId } : { kind: 'vm' as const, id: String(input.vmid) };
    const context = commandContext(ctx, input.requestId);
    const id = await this.health.trigger(target, input.reason ?? `triggered by ${context.actor}`, context);
    await this.read.waitFor(['recoveries'], await this.events.headPosition());
    return this.recovery(id);
  }

  @Allow(...READERS)
  @Query(() => Recovery)
  async recovery(@Args('id', { type: () => ID }) id: string): Promise<Recovery> {
    const doc = await this.read.findOne('recoveries', { _id: id });
    if (!doc) throw new NotFoundError(`recovery ${id} not found`, { recoveryId: id });
    return doc as unknown as Recovery;
  }

  @Allow(...READERS)
  @Query(() => [Recovery], { description: 'Newest first.' })
  async recoveries(
    @Args('filter', { type: () => RecoveryFilter, nullable: true }) f: RecoveryFilter | null,
    @Args('first', { type: () => Int, defaultValue: 50 }) first: number,
  ): Promise<Recovery[]> {
    if (first < 1 || first > 500) throw new BadInputError('first', 'must be between 1 and 500');
    const q: Filter = {};
    if (f?.status) q.status = f.status;
    if (f?.kind) q.kind = f.kind;
    if (f?.targetId) q.targetId = f.targetId;
    return (await this.read.find('recoveries', q, { sort: { startedAt: -1, _id: 1 }, limit: first })) as unknown as Recovery[];
  }

  @Allow(...READERS)
  @Query(() => FleetHealth, { description: 'Health checks, recovery and storm control at a glance.' })
  async fleetHealth(): Promise<FleetHealth> {
    const [fleet, unhealthyMachines, unhealthyVms, orphanedVms, recoveriesInProgress] = await Promise.all([
      this.read.findOne('fleet_health', { _id: 'fleet' }),
      this.read.count('machines', { 'conditions.REACHABLE.status': false }),
      this.read.count('vms', { healthy: false }),
      this.read.count('vms', { orphaned: { $type: 'object' } }),
      this.read.count('recoveries', { status: 'IN_PROGRESS' }),
    ]);
    return {
      healthChecks: this.health.monitor !== null,
      recovery: this.health.recoveries !== null,
      autoRecoveryPaused: Boolean(fleet?.paused),
      pausedOrResumedAt: (fleet?.since as string | undefined) ?? null,
      unhealthyMachines,
      unhealthyVms,
      orphanedVms,
      recoveriesInProgress,
    };
  }
}
