import { Args, Context, Field, ID, InputType, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { gqlEnum } from '../graphql/enums';
import { CommandBus } from '@nestjs/cqrs';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsObject, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateNested } from 'class-validator';
import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { commandContext, GqlContext } from '../graphql/request-context';
import { Allow } from '../graphql/roles';
import { Instance, IssueInput } from '../instances/instance.types';
import { InstancesService } from '../instances/instances.service';
import { INSTANCE_LABEL_VALUE_MAX, MAX_LABEL_BYTES, MAX_LABELS } from '../machines/labels';
import { machineDecider, machineStream } from '../machines/machine.decider';
import { Machine, MACHINE_ID, machineView } from '../machines/machine.types';
import { repairTenantOf } from '../machines/machine.visibility';
import { DecideCommand } from '../messaging/decide.command';
import { FailedPreconditionError, NotFoundError } from '../messaging/domain-errors';
import { ProjectionsService } from '../messaging/projections.service';
import { OverrideTemplate, TEMPLATES } from './overrides';
import { SiteConfigService } from './site-config.service';
import { SITE_CONFIG_STREAM, siteConfigDecider } from './site-settings';
import { v5 as uuidv5 } from 'uuid';

export const OverrideTemplateEnum = gqlEnum('OverrideTemplate', Object.keys(TEMPLATES) as OverrideTemplate[]);

@InputType()
export class AddHealthOverrideInput {
  @Field(() => ID) @IsString() @Matches(MACHINE_ID) machineId!: string;
  @Field(() => OverrideTemplateEnum) @IsIn(Object.keys(TEMPLATES)) template!: OverrideTemplate;
  @Field() @IsString() @MinLength(1, { message: 'message is required' }) @MaxLength(2000) message!: string;
}

@InputType()
export class RemoveHealthOverrideInput {
  @Field(() => ID) @IsString() @Matches(MACHINE_ID) machineId!: string;
  @Field() @IsString() @MinLength(1) @MaxLength(100) source!: string;
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(2000) reason?: string | null;
}

@InputType()
export class ClaimMachineInput {
  @Field(() => ID) @IsString() @Matches(MACHINE_ID) machineId!: string;
}

@InputType()
export class SetInstanceLabelsInput {
  @Field(() => ID) @IsString() @MaxLength(128) id!: string;
  @Field(() => GraphQLJSON, {
    description: `label keys to string values of at most ${INSTANCE_LABEL_VALUE_MAX} characters, merged into the instance's labels, which hold at most ${MAX_LABELS} labels and ${MAX_LABEL_BYTES} bytes`,
  })
  @IsObject()
  labels!: Record<string, string>;
}

@InputType()
export class CompleteRepairInput {
  @Field(() => ID) @IsString() @Matches(MACHINE_ID) machineId!: string;
  @Field() @IsString() @MinLength(1) @MaxLength(100) repairStatus!: string;
  // It becomes the repair_details label: bounded as an instance label's value is.
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(INSTANCE_LABEL_VALUE_MAX) repairDetails?: string | null;
  @Field(() => IssueInput, { nullable: true }) @IsOptional() @ValidateNested() @Type(() => IssueInput) issue?: IssueInput | null;
}

const REPAIR_NAMESPACE = '9c4e7a21-5b3d-4f6e-8a90-1d2c3b4a5e6f';

@Resolver()
export class HealthResolver {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ProjectionsService,
    private readonly instances: InstancesService,
  ) {}

  private async machineAfter(id: string, position: number): Promise<Machine> {
    await this.read.waitFor(['machines'], position);
    const doc = await this.read.findOne('machines', { _id: id });
    if (!doc) throw new NotFoundError(`machine ${id} not found`, { machineId: id });
    return machineView(doc);
  }

  @Allow('OPERATOR', 'ADMIN')
  @Mutation(() => Machine, { description: 'Adds a health override; one with the same source is replaced.' })
  async addHealthOverride(@Args('input') input: AddHealthOverrideInput, @Context() ctx: GqlContext): Promise<Machine> {
    const context = commandContext(ctx);
    const outcome = await this.bus.execute(
      new DecideCommand(machineDecider, machineStream(input.machineId), { type: 'AddHealthOverride', id: input.machineId, template: input.template, message: input.message, issue: null, by: context.actor, at: context.issuedAt }, context),
    );
    return this.machineAfter(input.machineId, outcome.position);
  }

  @Allow('OPERATOR', 'ADMIN')
  @Mutation(() => Machine, { description: 'Removes the health override with this source, recording who and why.' })
  async removeHealthOverride(@Args('input') input: RemoveHealthOverrideInput, @Context() ctx: GqlContext): Promise<Machine> {
    const context = commandContext(ctx);
    const outcome = await this.bus.execute(
      new DecideCommand(machineDecider, machineStream(input.machineId), { type: 'RemoveHealthOverride', id: input.machineId, source: input.source, reason: input.reason ?? 'removed by an operator', by: context.actor, at: context.issuedAt }, context),
    );
    return this.machineAfter(input.machineId, outcome.position);
  }

  @Allow('REPAIR_TENANT')
  @Mutation(() => Instance, { description: 'A repair tenant takes a machine carrying repair-request, as an instance of its own.' })
  async claimMachineForRepair(@Args('input') input: ClaimMachineInput, @Context() ctx: GqlContext): Promise<Instance> {
    const tenantId = repairTenantOf(ctx.principal!);
    const machine = await this.read.findOne('machines', { _id: input.machineId, 'healthOverrides.source': 'repair-request' });
    if (!machine) throw new NotFoundError(`machine ${input.machineId} not found among machines carrying repair-request`, { machineId: input.machineId });
    const instanceId = uuidv5(`${input.machineId}/${String(machine.revision)}/${tenantId}`, REPAIR_NAMESPACE);
    // The claim continues the repair request: its events name that override's event as their cause.
    const request = (machine.healthOverrides as Array<{ source: string; eventId?: string }>).find((o) => o.source === 'repair-request');
    await this.instances.createOn({ ...ctx, causationId: request?.eventId ?? null }, input.machineId, instanceId, tenantId, 'REPAIR', null);
    return (await this.read.findOne('instances', { _id: instanceId })) as unknown as Instance;
  }

  @Allow('REPAIR_TENANT', 'OPERATOR', 'ADMIN')
  @Mutation(() => Instance, { description: 'Sets labels on an instance: a repair tenant on its repair instance, and only repair_status, repair_details and repair_eta; an operator or admin any labels on any instance.' })
  async setInstanceLabels(@Args('input') input: SetInstanceLabelsInput, @Context() ctx: GqlContext): Promise<Instance> {
    await this.ownRepairInstance(ctx, input.id);
    await this.instances.setLabels(ctx, input.id, input.labels);
    return (await this.read.findOne('instances', { _id: input.id })) as unknown as Instance;
  }

  @Allow('REPAIR_TENANT')
  @Mutation(() => Instance, { description: 'Sets the repair labels and releases the repair instance in one step.' })
  async completeRepair(@Args('input') input: CompleteRepairInput, @Context() ctx: GqlContext): Promise<Instance> {
    const machine = await this.read.findOne('machines', { _id: input.machineId, tenantId: repairTenantOf(ctx.principal!) });
    if (!machine?.instance) throw new FailedPreconditionError(`machine ${input.machineId} is not claimed by this repair tenant`, { machineId: input.machineId });
    const instanceId = String(machine.instance);
    // The completion continues the claim: its events name the repair assignment as their cause.
    ctx = { ...ctx, causationId: typeof machine.instanceEventId === 'string' ? machine.instanceEventId : null };
    const labels: Record<string, string> = { repair_status: input.repairStatus };
    if (input.repairDetails) labels.repair_details = input.repairDetails;
    await this.instances.setLabels(ctx, instanceId, labels);
    const issue = input.issue ? { category: input.issue.category, summary: input.issue.summary, details: input.issue.details ?? null } : null;
    await this.instances.release(ctx, instanceId, input.machineId, issue, null);
    return (await this.read.findOne('instances', { _id: instanceId })) as unknown as Instance;
  }

  private async ownRepairInstance(ctx: GqlContext, id: string): Promise<void> {
    const p = ctx.principal!;
    const filter = p.role === 'REPAIR_TENANT' ? { _id: id, tenantId: repairTenantOf(p) } : { _id: id };
    if (!(await this.read.findOne('instances', filter))) throw new NotFoundError(`instance ${id} not found`, { instanceId: id });
  }
}

@ObjectType()
export class SiteConfig {
  @Field() autoMachineRepairEnabled!: boolean;
  @Field({ description: 'Where the value in force came from: DEFAULT, FILE, ENV or RUNTIME' }) source!: string;
  @Field(() => String, { nullable: true }) changedBy!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) changedAt!: string | null;
}

@InputType()
export class SetSiteConfigInput {
  @Field() @IsBoolean() autoMachineRepairEnabled!: boolean;
}

@Resolver(() => SiteConfig)
export class SiteConfigResolver {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ProjectionsService,
    private readonly site: SiteConfigService,
  ) {}

  private current(): SiteConfig {
    const s = this.site.settings;
    return { autoMachineRepairEnabled: s.autoMachineRepairEnabled, source: s.source, changedBy: s.changedBy, changedAt: s.changedAt };
  }

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => SiteConfig)
  siteConfig(): SiteConfig {
    return this.current();
  }

  @Allow('OPERATOR', 'ADMIN')
  @Mutation(() => SiteConfig, { description: 'Changes a site setting at run time, as an event; it wins over env and file.' })
  async setSiteConfig(@Args('input') input: SetSiteConfigInput, @Context() ctx: GqlContext): Promise<SiteConfig> {
    const context = commandContext(ctx);
    const outcome = await this.bus.execute(
      new DecideCommand(siteConfigDecider, SITE_CONFIG_STREAM, { type: 'SetSiteConfig', autoMachineRepairEnabled: input.autoMachineRepairEnabled, at: context.issuedAt }, context),
    );
    await this.read.waitFor(['site_config'], outcome.position);
    return this.current();
  }
}
