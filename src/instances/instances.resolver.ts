import { Args, Context, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { v5 as uuidv5 } from 'uuid';
import type { Principal } from '../access/principal';
import { GqlContext } from '../graphql/request-context';
import { Allow } from '../graphql/roles';
import { repairTenantOf } from '../machines/machine.visibility';
import { NotFoundError } from '../messaging/domain-errors';
import { ProjectionsService } from '../messaging/projections.service';
import { Filter } from '../read-store/read-store.port';
import { AllocateInstanceInput, Instance, InstanceFilter, ReleaseInstanceInput } from './instance.types';
import { InstancesService } from './instances.service';

export const INSTANCE_ID_NAMESPACE = '3d9a2c1e-6f4b-4e8a-b7c2-9e1f5a7d3c60';

/** Which instances a caller may see: a tenant only its own; operators, auditors and admins all. */
export function visibleInstances(p: Principal | null): Filter {
  if (p?.role === 'TENANT') return { tenantId: p.tenantId };
  if (p?.role === 'REPAIR_TENANT') return { tenantId: repairTenantOf(p) };
  if (p && ['OPERATOR', 'AUDITOR', 'ADMIN'].includes(p.role)) return {};
  return { _id: { $in: [] } };
}

@Resolver(() => Instance)
export class InstancesResolver {
  constructor(
    private readonly read: ProjectionsService,
    private readonly lifecycle: InstancesService,
  ) {}

  @Allow('TENANT')
  @Mutation(() => Instance, { description: "Gives the caller's tenant an instance on an allocatable machine (the one named, or any)." })
  async allocateInstance(@Args('input') input: AllocateInstanceInput, @Context() ctx: GqlContext): Promise<Instance> {
    const tenantId = ctx.principal!.tenantId!;
    const instanceId = uuidv5(`${tenantId}/${input.requestId}`, INSTANCE_ID_NAMESPACE);
    const existing = await this.read.findOne('instances', { _id: instanceId });
    if (existing) return existing as unknown as Instance; // the same request again
    await this.lifecycle.allocate(ctx, instanceId, tenantId, input.requestId, input.machineId ?? null, null);
    return this.instance(instanceId, ctx);
  }

  @Allow('TENANT', 'REPAIR_TENANT', 'OPERATOR', 'ADMIN')
  @Mutation(() => Instance, { description: 'Ends an instance; releasing again changes nothing, even with an issue.' })
  async releaseInstance(@Args('input') input: ReleaseInstanceInput, @Context() ctx: GqlContext): Promise<Instance> {
    const instance = await this.instance(input.id, ctx);
    const issue = input.issue ? { category: input.issue.category, summary: input.issue.summary, details: input.issue.details ?? null } : null;
    await this.lifecycle.release(ctx, input.id, instance.machineId, issue, input.requestId ?? null);
    return this.instance(input.id, ctx);
  }

  @Allow('TENANT', 'REPAIR_TENANT', 'OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => Instance)
  async instance(@Args('id', { type: () => ID }) id: string, @Context() ctx: GqlContext): Promise<Instance> {
    const doc = await this.read.findOne('instances', { _id: id, ...visibleInstances(ctx.principal) });
    if (!doc) throw new NotFoundError(`instance ${id} not found`, { instanceId: id });
    return doc as unknown as Instance;
  }

  @Allow('TENANT', 'REPAIR_TENANT', 'OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => [Instance], { description: 'A tenant sees its own instances only.' })
  async instances(@Args('filter', { type: () => InstanceFilter, nullable: true }) f: InstanceFilter | null, @Context() ctx: GqlContext): Promise<Instance[]> {
    // Another tenant's instances do not exist for a tenant: filtering by its id finds nothing.
    const query: Filter = { ...visibleInstances(ctx.principal) };
    if (f?.tenantId) query.$and = [{ tenantId: f.tenantId }];
    if (f?.machineId) query.machineId = f.machineId;
    if (f?.status) query.status = f.status;
    return (await this.read.find('instances', query, { sort: { createdAt: -1 }, limit: 500 })) as unknown as Instance[];
  }
}
