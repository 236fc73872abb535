import { Args, Context, ID, Int, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { CommandBus } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import { commandContext, GqlContext } from '../graphql/request-context';
import { Allow } from '../graphql/roles';
import { instanceDecider, instanceStream } from '../instances/instance.decider';
import { CreateInstanceInput, Instance, InstanceCredentials, ProvisioningAttemptView, ProvisioningRetry } from '../instances/instance.types';
import { INSTANCE_ID_NAMESPACE, visibleInstances } from '../instances/instances.resolver';
import { InstancesService } from '../instances/instances.service';
import { DecideCommand } from '../messaging/decide.command';
import { FailedPreconditionError, NotFoundError } from '../messaging/domain-errors';
import { ProjectionsService } from '../messaging/projections.service';
import { ProvisioningExecutor } from './provisioning-executor';

const ATTEMPT_NAMESPACE = '8c4e2b9a-1d7f-4a3b-9e6c-5f2a8d1b7c43';

/** Provisioned instances: created as a saga (database, deployment, readiness), retried from ERROR. */
@Resolver(() => Instance)
export class ProvisioningResolver {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ProjectionsService,
    private readonly lifecycle: InstancesService,
    private readonly executor: ProvisioningExecutor,
  ) {}

  private async visible(id: string, ctx: GqlContext): Promise<Instance> {
    const doc = await this.read.findOne('instances', { _id: id, ...visibleInstances(ctx.principal) });
    if (!doc) throw new NotFoundError(`instance ${id} not found`, { instanceId: id });
    return doc as unknown as Instance;
  }

  @Allow('TENANT')
  @Mutation(() => Instance, { description: 'Allocates a machine and provisions an instance on it in the background: CREATING/PENDING, then READY, or ERROR/FAILED with the reason.' })
  async createInstance(@Args('input') input: CreateInstanceInput, @Context() ctx: GqlContext): Promise<Instance> {
    const tenantId = ctx.principal!.tenantId!;
    const instanceId = uuidv5(`${tenantId}/${input.requestId}`, INSTANCE_ID_NAMESPACE);
    if (!(await this.read.findOne('instances', { _id: instanceId }))) {
      const attemptId = uuidv5(`${instanceId}/1`, ATTEMPT_NAMESPACE);
      await this.lifecycle.allocate(ctx, instanceId, tenantId, input.requestId, input.machineId ?? null, { dbType: input.dbType, attemptId });
    }
    return this.visible(instanceId, ctx);
  }

  @Allow('TENANT', 'OPERATOR', 'ADMIN')
  @Mutation(() => ProvisioningRetry, { description: 'Provisions an instance in ERROR again (the database is reused); anything else is FAILED_PRECONDITION naming its status.' })
  async retryInstanceProvisioning(
    @Args('id', { type: () => ID }) id: string,
    @Args('requestId', { type: () => String, nullable: true, description: 'the same requestId again starts nothing new' }) requestId: string | null,
    @Context() ctx: GqlContext,
  ): Promise<ProvisioningRetry> {
    await this.visible(id, ctx);
    const attemptId = requestId ? uuidv5(`${id}/retry/${requestId}`, ATTEMPT_NAMESPACE) : randomUUID();
    const context = commandContext(ctx, requestId);
    const outcome = await this.bus.execute(new DecideCommand(instanceDecider, instanceStream(id), { type: 'RetryProvisioning', id, attemptId, at: context.issuedAt }, context));
    await this.read.waitFor(['instances'], outcome.position);
    const recorded = String(outcome.events[0]?.data.attemptId ?? attemptId);
    return { attemptId: recorded, instance: await this.visible(id, ctx) };
  }

  @Allow('TENANT', 'ADMIN')
  @Query(() => InstanceCredentials, { description: "The instance's database credentials, fetched from the database service now (never stored by Drydock)." })
  async instanceCredentials(@Args('id', { type: () => ID }) id: string, @Context() ctx: GqlContext): Promise<InstanceCredentials> {
    const instance = await this.visible(id, ctx);
    if (!instance.databaseId) throw new FailedPreconditionError(`instance ${id} has no database (${instance.status})`, { instanceId: id });
    return this.executor.credentials(instance.databaseId);
  }

  @ResolveField(() => [ProvisioningAttemptView])
  provisioningAttempts(@Parent() i: Instance & { attempts?: Record<string, ProvisioningAttemptView>; attemptOrder?: string[] }): ProvisioningAttemptView[] {
    return (i.attemptOrder ?? []).map((a) => i.attempts![a]);
  }

  @ResolveField(() => Int)
  retries(@Parent() i: Instance): number {
    return i.retries ?? 0;
  }
}
