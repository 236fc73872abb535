import { Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { AppConfig } from '../config/config';
import { commandContext, GqlContext } from '../graphql/request-context';
import { checkLabelsSettableBy } from '../machines/labels';
import { InstancePurpose, machineDecider, MachineTakenError, machineStream } from '../machines/machine.decider';
import { DecideCommand } from '../messaging/decide.command';
import type { CommandOutcome } from '../messaging/command-pipeline';
import { ProjectionsService } from '../messaging/projections.service';
import { ConflictError, FailedPreconditionError, NotFoundError } from '../messaging/domain-errors';
import { DbType, Issue, instanceDecider, instanceStream } from './instance.decider';

export type Provisioning = { dbType: DbType; attemptId: string };

/** Creating and releasing instances: two streams (the machine's, the instance's), each step idempotent. */
@Injectable()
export class InstancesService {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ProjectionsService,
    private readonly config: AppConfig,
  ) {}

  /**
   * A tenant's new instance on the machine named, or on the first allocatable one that takes
   * it: the machine's own stream decides, so two allocations can never both take a machine.
   * With `provisioning`, the instance starts CREATING and the provisioning executor takes over.
   */
  async allocate(ctx: GqlContext, instanceId: string, tenantId: string, requestId: string, machineId: string | null, provisioning: Provisioning | null): Promise<void> {
    const candidates = machineId ? [machineId] : (await this.read.find('machines', { allocatable: true }, { sort: { _id: 1 }, limit: 25 })).map((m) => m._id);
    for (const candidate of candidates) {
      try {
        await this.createOn(ctx, candidate, instanceId, tenantId, 'TENANT', requestId, provisioning);
        return;
      } catch (err) {
        // Another tenant's machine is NOT_FOUND to this one (see `createOn`): among candidates, just taken.
        const taken = err instanceof FailedPreconditionError || err instanceof ConflictError || err instanceof NotFoundError;
        if (!taken || machineId) throw err instanceof NotFoundError ? new NotFoundError(`machine ${candidate} not found`, { machineId: candidate }) : err;
      }
    }
    throw new FailedPreconditionError('no allocatable machine is free now');
  }

  /**
   * Takes the machine (decided by the machine's stream), then records the instance. A machine
   * holding another tenant's instance is not the caller's to know about: a tenant is told what it
   * is told of a machine that does not exist (NOT_FOUND); a repair tenant, which sees every machine
   * carrying repair-request, that it is claimed already (FAILED_PRECONDITION). A machine holding
   * the caller's own instance is FAILED_PRECONDITION naming it. No tenant is answered CONFLICT.
   */
  async createOn(ctx: GqlContext, machineId: string, instanceId: string, tenantId: string, purpose: InstancePurpose, requestId: string | null, provisioning: Provisioning | null = null): Promise<number> {
    const context = commandContext(ctx, requestId);
    const assigned = await this.bus
      .execute(new DecideCommand(machineDecider, machineStream(machineId), { type: 'AssignInstance', id: machineId, instanceId, tenantId, purpose, at: context.issuedAt }, { ...context, requestId: null }))
      .catch((err: unknown) => {
        throw err instanceof MachineTakenError ? takenAsSeenBy(err, purpose) : err;
      });
    const outcome = await this.bus.execute(
      new DecideCommand(instanceDecider, instanceStream(instanceId), { type: 'CreateInstance', id: instanceId, tenantId, machineId, purpose, labels: {}, provisioning, at: context.issuedAt }, { ...context, causationId: causeIn(assigned, context.causationId) }),
    );
    await this.read.waitFor(['instances', 'machines'], outcome.position);
    return outcome.position;
  }

  /** Ends the instance, then frees the machine (with a tenant's issue, blocking it in the same append). */
  async release(ctx: GqlContext, instanceId: string, machineId: string, issue: Issue | null, requestId: string | null): Promise<void> {
    const context = commandContext(ctx, requestId);
    const released = await this.bus.execute(new DecideCommand(instanceDecider, instanceStream(instanceId), { type: 'ReleaseInstance', id: instanceId, issue, at: context.issuedAt }, context));
    const freed = await this.bus.execute(
      new DecideCommand(machineDecider, machineStream(machineId), {
        type: 'UnassignInstance',
        id: machineId,
        instanceId,
        issue,
        repeatPolicy: { windowMs: this.config.auto_machine_repair_plugin.repeat_window_hours * 3_600_000, maxRepeats: this.config.auto_machine_repair_plugin.max_repeats },
        at: context.issuedAt,
      }, { ...context, requestId: null, causationId: causeIn(released, context.causationId) }),
    );
    await this.read.waitFor(['instances', 'machines'], Math.max(released.position, freed.position));
  }

  /** Sets labels on an instance, as far as the caller may set them (a repair tenant: the repair labels only). */
  async setLabels(ctx: GqlContext, instanceId: string, labels: Record<string, string>): Promise<void> {
    if (ctx.principal) checkLabelsSettableBy(ctx.principal.role, labels);
    const context = commandContext(ctx);
    const outcome = await this.bus.execute(new DecideCommand(instanceDecider, instanceStream(instanceId), { type: 'SetInstanceLabels', id: instanceId, labels, at: context.issuedAt }, context));
    await this.read.waitFor(['instances'], outcome.position);
  }
}

/** How a tenant is told that a machine holds an instance already (see `createOn`). */
function takenAsSeenBy(err: MachineTakenError, purpose: InstancePurpose): Error {
  if (err.ownInstanceId) return new FailedPreconditionError(err.message, { machineId: err.machineId });
  if (purpose === 'TENANT') return new NotFoundError(`machine ${err.machineId} not found`, { machineId: err.machineId });
  return new FailedPreconditionError(`machine ${err.machineId} is claimed already`, { machineId: err.machineId });
}

/** The second half of a two-stream change is caused by the last event of the first half (or by what caused the whole). */
function causeIn(first: CommandOutcome, fallback: string | null | undefined): string | null {
  return first.events[first.events.length - 1]?.id ?? fallback ?? null;
}
