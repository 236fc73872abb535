import { Module } from '@nestjs/common';
import { Args, Field, Float, ID, InputType, Int, ObjectType, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { IsOptional } from 'class-validator';
import { GraphQLDateTime } from 'graphql-scalars';
import { Allow } from '../graphql/roles';
import { BadInputError } from '../messaging/domain-errors';
import { ProjectionsService } from '../messaging/projections.service';
import {
  countBy,
  DrainDoc,
  drainsBy,
  IssueReportDoc,
  OperationDoc,
  operationsByType,
  RepairDoc,
  repairFigures,
  repairsBy,
  repeatOffenders,
  StateIntervalDoc,
  timeInState,
  Window,
} from './analytics.rules';

@InputType()
export class AnalyticsWindow {
  @Field(() => GraphQLDateTime, { nullable: true, description: 'inclusive; default: 30 days before `to`' }) @IsOptional() from?: Date | null;
  @Field(() => GraphQLDateTime, { nullable: true, description: 'exclusive; default: now' }) @IsOptional() to?: Date | null;
}

@ObjectType()
export class RepairFiguresView {
  @Field({ description: 'the category, machine or "all"' }) key!: string;
  @Field(() => Int, { description: 'repairs that ended within the window' }) finished!: number;
  @Field(() => Int) completed!: number;
  @Field(() => Int) notCompleted!: number;
  @Field(() => Int, { description: 'repair requests removed by an operator before any outcome' }) withdrawn!: number;
  @Field(() => Float, { nullable: true }) successRate!: number | null;
  @Field(() => Float, { nullable: true, description: 'request to completed outcome, mean over completed repairs' }) meanTimeToRepairSeconds!: number | null;
  @Field(() => Float, { nullable: true, description: 'request to claim by a repair tenant' }) meanTimeToClaimSeconds!: number | null;
}

@ObjectType()
export class RepairAnalytics {
  @Field(() => RepairFiguresView) overall!: RepairFiguresView;
  @Field(() => [RepairFiguresView]) byCategory!: RepairFiguresView[];
  @Field(() => [RepairFiguresView]) byMachine!: RepairFiguresView[];
  @Field(() => Int, { description: 'repairs requested within the window and not ended yet' }) open!: number;
}

@ObjectType()
export class CountView {
  @Field() key!: string;
  @Field(() => Int) count!: number;
}

@ObjectType()
export class RepeatOffenderView {
  @Field(() => ID) machineId!: string;
  @Field(() => Int) reports!: number;
  @Field(() => [String]) tenants!: string[];
  @Field(() => [String]) categories!: string[];
  @Field(() => GraphQLDateTime) firstReportedAt!: string;
  @Field(() => GraphQLDateTime) lastReportedAt!: string;
}

@ObjectType()
export class IssueReportAnalytics {
  @Field(() => Int) total!: number;
  @Field(() => [CountView]) byCategory!: CountView[];
  @Field(() => [CountView]) byTenant!: CountView[];
  @Field(() => [CountView]) byMachine!: CountView[];
  @Field(() => [RepeatOffenderView], { description: 'machines reported at least twice within the window' }) repeatOffenders!: RepeatOffenderView[];
}

@ObjectType()
export class DrainFiguresView {
  @Field({ description: 'the mode (SOFT, HARD) or the node' }) key!: string;
  @Field(() => Int) started!: number;
  @Field(() => Int) finished!: number;
  @Field(() => Int) completed!: number;
  @Field(() => Int) failed!: number;
  @Field(() => Int) canceled!: number;
  @Field(() => Float, { nullable: true, description: 'of the finished drains, the share that did not complete' }) failureRate!: number | null;
  @Field(() => Float, { nullable: true }) meanDurationSeconds!: number | null;
}

@ObjectType()
export class DrainAnalytics {
  @Field(() => [DrainFiguresView]) byMode!: DrainFiguresView[];
  @Field(() => [DrainFiguresView]) byNode!: DrainFiguresView[];
}

@ObjectType()
export class OperationFiguresView {
  @Field() type!: string;
  @Field(() => Int) requested!: number;
  @Field(() => Int) succeeded!: number;
  @Field(() => Int) failed!: number;
  @Field(() => Int) canceled!: number;
  @Field(() => Float, { nullable: true, description: 'of the finished operations, the share that succeeded' }) successRate!: number | null;
  @Field(() => Float, { nullable: true }) meanDurationSeconds!: number | null;
}

@ObjectType()
export class TimeInStateView {
  @Field(() => ID) machineId!: string;
  @Field() state!: string;
  @Field(() => Float) seconds!: number;
}

@ObjectType({ description: 'Figures from the analytics read models over a time window [from, to).' })
export class Analytics {
  @Field(() => GraphQLDateTime) from!: string;
  @Field(() => GraphQLDateTime) to!: string;
}

const DAY_MS = 86_400_000;

@Resolver(() => Analytics)
export class AnalyticsResolver {
  constructor(private readonly read: ProjectionsService) {}

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => Analytics, { description: 'Repair outcomes, issue reports, drains, operations and time in state over a window (default: the last 30 days).' })
  analytics(@Args('window', { type: () => AnalyticsWindow, nullable: true }) w: AnalyticsWindow | null): Analytics {
    const to = w?.to ?? new Date();
    const from = w?.from ?? new Date(to.getTime() - 30 * DAY_MS);
    if (from >= to) throw new BadInputError('window.from', 'must be before window.to');
    return { from: from.toISOString(), to: to.toISOString() };
  }

  @ResolveField(() => RepairAnalytics, { description: 'Repairs that ended within the window (open: requested within it and not ended).' })
  async repairs(@Parent() w: Window): Promise<RepairAnalytics> {
    const docs = (await this.read.find('analytics_repairs', { finishedAt: { $gte: w.from, $lt: w.to } })) as unknown as RepairDoc[];
    const open = await this.read.count('analytics_repairs', { requestedAt: { $gte: w.from, $lt: w.to }, finishedAt: null });
    return { overall: repairFigures('all', docs), byCategory: repairsBy(docs, (d) => d.category), byMachine: repairsBy(docs, (d) => d.machineId), open };
  }

  @ResolveField(() => IssueReportAnalytics, { description: 'Issue reports made within the window.' })
  async issueReports(@Parent() w: Window, @Args('repeatAtLeast', { type: () => Int, defaultValue: 2 }) min: number): Promise<IssueReportAnalytics> {
    if (min < 2 || min > 1000) throw new BadInputError('repeatAtLeast', 'must be between 2 and 1000');
    const docs = (await this.read.find('analytics_issue_reports', { reportedAt: { $gte: w.from, $lt: w.to } })) as unknown as IssueReportDoc[];
    return {
      total: docs.length,
      byCategory: countBy(docs, (d) => d.category),
      byTenant: countBy(docs, (d) => d.tenantId),
      byMachine: countBy(docs, (d) => d.machineId),
      repeatOffenders: repeatOffenders(docs, min),
    };
  }

  @ResolveField(() => DrainAnalytics, { description: 'Drains and undrains started within the window.' })
  async drains(@Parent() w: Window): Promise<DrainAnalytics> {
    const docs = (await this.read.find('analytics_drains', { startedAt: { $gte: w.from, $lt: w.to } })) as unknown as DrainDoc[];
    return { byMode: drainsBy(docs, (d) => d.mode), byNode: drainsBy(docs, (d) => d.node) };
  }

  @ResolveField(() => [OperationFiguresView], { description: 'Lifecycle operations requested within the window, by type.' })
  async operations(@Parent() w: Window): Promise<OperationFiguresView[]> {
    return operationsByType((await this.read.find('analytics_operations', { requestedAt: { $gte: w.from, $lt: w.to } })) as unknown as OperationDoc[]);
  }

  @ResolveField(() => [TimeInStateView], { description: 'Seconds each machine spent in each effective state within the window (up to now).' })
  async timeInState(@Parent() w: Window, @Args('machineId', { type: () => ID, nullable: true }) machineId: string | null): Promise<TimeInStateView[]> {
    const filter = { from: { $lt: w.to }, $or: [{ to: null }, { to: { $gt: w.from } }], ...(machineId != null ? { machineId } : {}) };
    const intervals = (await this.read.find('analytics_machine_states', filter)) as unknown as StateIntervalDoc[];
    return timeInState(intervals, w, new Date().toISOString());
  }
}

@Module({ providers: [AnalyticsResolver] })
export class AnalyticsModule {}
