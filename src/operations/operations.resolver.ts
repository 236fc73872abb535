import { Args, Context, ID, Int, Mutation, Query, Resolver, Subscription } from '@nestjs/graphql';
import { CommandBus } from '@nestjs/cqrs';
import { concat as concatWith, concatMap, filter, from, mergeMap } from 'rxjs';
import { v5 as uuidv5 } from 'uuid';
import { toAsyncIterator } from '../graphql/async-iterator';
import { commandContext, GqlContext } from '../graphql/request-context';
import { Allow } from '../graphql/roles';
import { machineDecider, machineStream, OperationType } from '../machines/machine.decider';
import { DecideCommand } from '../messaging/decide.command';
import { BadInputError, NotFoundError } from '../messaging/domain-errors';
import { ProjectionsService } from '../messaging/projections.service';
import { Doc, Filter } from '../read-store/read-store.port';
import {
  EnterMaintenanceInput,
  Operation,
  OperationConnection,
  OperationEvent,
  OperationFilter,
  OperationLogLine,
  OperationRequestInput,
  ReimageInput,
} from './operation.types';

const OPERATION_ID_NAMESPACE = '6b1f4f7e-2a3c-4a8e-9a51-3c8e2f6d9b24';
const READERS = ['OPERATOR', 'AUDITOR', 'ADMIN'] as const;
const OPERATORS = ['OPERATOR', 'ADMIN'] as const;

/** The read model keeps stages by name with their order beside; the API shows them in order. */
export function toOperation(doc: Doc): Operation {
  const stages = doc.stages as Record<string, Operation['stages'][number]>;
  return { ...(doc as unknown as Operation), stages: (doc.stageOrder as string[]).map((n) => stages[n]) };
}

@Resolver(() => Operation)
export class OperationsResolver {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ProjectionsService,
  ) {}

  /** Requests an operation: idempotent on (machine, requestId); the operation id derives from that pair. */
  private async request(ctx: GqlContext, input: OperationRequestInput, operation: OperationType, params: Record<string, unknown>): Promise<Operation> {
    const operationId = uuidv5(`${input.machineId}/${input.requestId}`, OPERATION_ID_NAMESPACE);
    const context = commandContext(ctx, input.requestId);
    const outcome = await this.bus.execute(
      new DecideCommand(
        machineDecider,
        machineStream(input.machineId),
        { type: 'RequestOperation', id: input.machineId, operationId, operation, params, requestId: input.requestId, at: context.issuedAt },
        context,
      ),
    );
    await this.read.waitFor(['operations', 'machines'], outcome.position);
    return this.operation(operationId);
  }

  @Allow(...OPERATORS)
  @Mutation(() => Operation)
  rebootMachine(@Args('input') input: OperationRequestInput, @Context() ctx: GqlContext) {
    return this.request(ctx, input, 'REBOOT', {});
  }

  @Allow(...OPERATORS)
  @Mutation(() => Operation)
  reimageMachine(@Args('input') input: ReimageInput, @Context() ctx: GqlContext) {
    return this.request(ctx, input, 'REIMAGE', { imageRef: input.imageRef });
  }

  @Allow(...OPERATORS)
  @Mutation(() => Operation)
  enterMaintenance(@Args('input') input: EnterMaintenanceInput, @Context() ctx: GqlContext) {
    return this.request(ctx, input, 'ENTER_MAINTENANCE', input.reason ? { reason: input.reason } : {});
  }

  @Allow(...OPERATORS)
  @Mutation(() => Operation)
  exitMaintenance(@Args('input') input: OperationRequestInput, @Context() ctx: GqlContext) {
    return this.request(ctx, input, 'EXIT_MAINTENANCE', {});
  }

  @Allow(...OPERATORS)
  @Mutation(() => Operation, { description: 'Cancels an active operation; a finished one is FAILED_PRECONDITION.' })
  async cancelOperation(@Args('id', { type: () => ID }) id: string, @Context() ctx: GqlContext): Promise<Operation> {
    const op = await this.operation(id);
    const context = commandContext(ctx);
    const outcome = await this.bus.execute(
      new DecideCommand(machineDecider, machineStream(op.machineId), { type: 'CancelOperation', id: op.machineId, operationId: id, reason: `canceled by ${context.actor}`, at: context.issuedAt }, context),
    );
    await this.read.waitFor(['operations', 'machines'], outcome.position);
    return this.operation(id);
  }

  @Allow(...READERS)
  @Query(() => Operation)
  async operation(@Args('id', { type: () => ID }) id: string): Promise<Operation> {
    const doc = await this.read.findOne('operations', { _id: id });
    if (!doc) throw new NotFoundError(`operation ${id} not found`, { operationId: id });
    return toOperation(doc);
  }

  @Allow(...READERS)
  @Query(() => OperationConnection, { description: 'Newest first.' })
  async operations(
    @Args('filter', { type: () => OperationFilter, nullable: true }) f: OperationFilter | null,
    @Args('first', { type: () => Int, defaultValue: 50 }) first: number,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
  ): Promise<OperationConnection> {
    if (first < 1 || first > 500) throw new BadInputError('first', 'must be between 1 and 500');
    const query: Filter = {};
    if (f?.machineId) query.machineId = f.machineId;
    if (f?.type) query.type = f.type;
    if (f?.phase) query.phase = f.phase;
    const total = await this.read.count('operations', query);
    const skip = after ? Number(Buffer.from(after, 'base64url').toString()) : 0;
    if (!Number.isSafeInteger(skip) || skip < 0) throw new BadInputError('after', 'not a cursor returned by this query');
    const page = await this.read.find('operations', query, { sort: { createdAt: -1, _id: 1 }, skip, limit: first + 1 });
    const nodes = page.slice(0, first).map(toOperation);
    return {
      nodes,
      totalCount: total,
      hasNextPage: page.length > first,
      endCursor: nodes.length ? Buffer.from(String(skip + nodes.length)).toString('base64url') : null,
    };
  }

  @Allow(...READERS)
  @Subscription(() => OperationEvent, {
    description: 'Every phase and stage change of the operations of one machine, or of all machines.',
    resolve: (e: OperationEvent) => e,
  })
  operationEvents(@Args('machineId', { type: () => ID, nullable: true }) machineId: string | null) {
    return toAsyncIterator(
      this.read.committedBy('operations').pipe(
        concatMap((c) => from(c.events.filter((e) => e.type.startsWith('Operation') && (!machineId || e.data.id === machineId)))),
        concatMap((e) =>
          from(
            this.read.findOne('operations', { _id: String(e.data.operationId) }).then((doc) =>
              doc ? { event: e.type, stage: (e.data.stage as string | undefined) ?? null, at: String(e.data.at), operation: toOperation(doc) } : null,
            ),
          ),
        ),
        filter((m): m is OperationEvent => m !== null),
      ),
    );
  }

  @Allow(...READERS)
  @Subscription(() => OperationLogLine, { description: 'The log lines of an operation: all so far, then live.', resolve: (l: OperationLogLine) => l })
  async operationLogs(@Args('operationId', { type: () => ID }) operationId: string) {
    const doc = await this.read.findOne('operations', { _id: operationId });
    if (!doc) throw new NotFoundError(`operation ${operationId} not found`, { operationId });
    const lines = (logs: unknown) => (logs as Array<{ stage: string; line: string; at: string }>).map((l) => ({ operationId, ...l }));
    let sent = (doc.logs as unknown[]).length;
    const live = this.read.committedBy('operations').pipe(
      filter((c) => c.events.some((e) => e.data.operationId === operationId && Array.isArray(e.data.log))),
      concatMap(() => from(this.read.findOne('operations', { _id: operationId }))),
      mergeMap((d) => {
        const all = lines(d?.logs ?? []);
        const fresh = all.slice(sent);
        sent = all.length;
        return from(fresh);
      }),
    );
    const backlog = from(lines(doc.logs));
    return toAsyncIterator(concatWith(backlog, live));
  }
}
