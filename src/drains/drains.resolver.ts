import { Args, Context, ID, Int, Mutation, Parent, Query, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import { concatMap, filter, from, Observable } from 'rxjs';
import { RecordedEvent } from '../event-store/event-store.port';
import { toAsyncIterator } from '../graphql/async-iterator';
import { commandContext, GqlContext } from '../graphql/request-context';
import { Allow } from '../graphql/roles';
import { BadInputError, NotFoundError } from '../messaging/domain-errors';
import { ProjectionsService } from '../messaging/projections.service';
import { Doc, Filter } from '../read-store/read-store.port';
import type { DrainEvent } from './drain.decider';
import { VmMigrationStatus } from './drain.rules';
import { Drain, DrainFilter, DrainProgress, StartDrainInput, VmMigration } from './drain.types';
import { DrainsService } from './drains.service';

const READERS = ['OPERATOR', 'AUDITOR', 'ADMIN'] as const;
const OPERATORS = ['OPERATOR', 'ADMIN'] as const;

/** The status a VM has right after each per-VM drain event. */
const VM_STATUS_AFTER: Partial<Record<DrainEvent['type'], VmMigrationStatus>> = {
  VmMigrationStarted: 'IN_PROGRESS',
  VmMigrationCompleted: 'COMPLETED',
  VmMigrationFailed: 'FAILED',
  VmMigrationSkipped: 'SKIPPED',
};

/**
 * A snapshot, then every live item after it, with nothing lost in between: live items are
 * collected from before the snapshot is read and only those it does not include are passed on.
 */
function snapshotThenLive<T, S>(live$: Observable<T>, snapshot: () => Promise<S>, isNewer: (snap: S, item: T) => boolean): Observable<{ snapshot: S } | { live: T }> {
  return new Observable((subscriber) => {
    const early: T[] = [];
    let snap: { value: S } | null = null;
    const sub = live$.subscribe({
      next: (item) => {
        if (!snap) early.push(item);
        else if (isNewer(snap.value, item)) subscriber.next({ live: item });
      },
      error: (err) => subscriber.error(err),
    });
    snapshot().then(
      (value) => {
        snap = { value };
        subscriber.next({ snapshot: value });
        for (const item of early.splice(0)) if (isNewer(value, item)) subscriber.next({ live: item });
      },
      (err) => subscriber.error(err),
    );
    return () => sub.unsubscribe();
  });
}

@Resolver(() => Drain)
export class DrainsResolver {
  constructor(
    private readonly service: DrainsService,
    private readonly read: ProjectionsService,
  ) {}

  @Allow(...OPERATORS)
  @Mutation(() => Drain, { description: 'Starts draining a hypervisor node; returns at once while the migrations run in the background.' })
  async startDrain(@Args('input') input: StartDrainInput, @Context() ctx: GqlContext): Promise<Drain> {
    const id = await this.service.start(input.node, 'DRAIN', { ...input, mode: input.drainMode }, commandContext(ctx, input.requestId));
    return this.drain(id);
  }

  @Allow(...OPERATORS)
  @Mutation(() => Drain, { description: 'Starts no new migrations; running ones finish; the drain ends CANCELED.' })
  async cancelDrain(@Args('id', { type: () => ID }) id: string, @Context() ctx: GqlContext): Promise<Drain> {
    await this.service.cancel(id, commandContext(ctx));
    return this.drain(id);
  }

  @Allow(...OPERATORS)
  @Mutation(() => Drain, { description: "Moves back the VMs the node's last drain moved away (kind UNDRAIN), skipping any deleted or moved since." })
  async undrainNode(@Args('node', { type: () => ID }) node: string, @Context() ctx: GqlContext): Promise<Drain> {
    return this.drain(await this.service.undrain(node, commandContext(ctx)));
  }

  @Allow(...READERS)
  @Query(() => Drain)
  async drain(@Args('id', { type: () => ID }) id: string): Promise<Drain> {
    const doc = await this.read.findOne('drains', { _id: id });
    if (!doc) throw new NotFoundError(`drain ${id} not found`, { drainId: id });
    return doc as unknown as Drain;
  }

  @Allow(...READERS)
  @Query(() => [Drain], { description: 'Drains and undrains, newest first: the history of a node with `filter.node`.' })
  async drains(
    @Args('filter', { type: () => DrainFilter, nullable: true }) f: DrainFilter | null,
    @Args('first', { type: () => Int, defaultValue: 50 }) first: number,
  ): Promise<Drain[]> {
    if (first < 1 || first > 500) throw new BadInputError('first', 'must be between 1 and 500');
    const query: Filter = {};
    if (f?.node) query.node = f.node;
    if (f?.status) query.status = f.status;
    if (f?.kind) query.kind = f.kind;
    return (await this.read.find('drains', query, { sort: { startedAt: -1, _id: 1 }, limit: first })) as unknown as Drain[];
  }

  @ResolveField(() => [VmMigration])
  async vmStatus(@Parent() drain: Drain): Promise<VmMigration[]> {
    if (Array.isArray(drain.vmStatus)) return drain.vmStatus;
    return (await this.read.find('drain_vms', { drainId: drain.id }, { sort: { seq: 1 } })) as unknown as VmMigration[];
  }

  @Allow(...READERS)
  @Subscription(() => DrainProgress, {
    description: 'The current state of a drain (or of the latest drain of a node), then every per-VM change with the counters after it.',
    resolve: (m: DrainProgress) => m,
  })
  drainProgress(
    @Args('drainId', { type: () => ID, nullable: true }) drainId: string | null,
    @Args('node', { type: () => ID, nullable: true }) node: string | null,
  ) {
    if (!drainId === !node) throw new BadInputError('drainId', 'give exactly one of drainId and node');
    const ofNode = new Set<string>();
    const mine = (e: RecordedEvent) => {
      if (!e.stream.startsWith('drain-')) return false;
      const id = String(e.data.drainId);
      if (drainId) return id === drainId;
      if (e.type === 'DrainStarted' && e.data.node === node) ofNode.add(id);
      return ofNode.has(id);
    };
    const live$ = this.read.committedBy('drains').pipe(concatMap((c) => from(c.events.filter(mine))));
    const snapshot = async () => {
      const doc = drainId ? await this.read.findOne('drains', { _id: drainId }) : (await this.read.find('drains', { node }, { sort: { startedAt: -1 }, limit: 1 }))[0];
      if (drainId && !doc) throw new NotFoundError(`drain ${drainId} not found`, { drainId });
      if (doc) ofNode.add(doc.id as string);
      return doc ?? null;
    };
    const messages = snapshotThenLive(live$, snapshot, (snap, e) => !snap || snap.id !== e.data.drainId || e.position > Number(snap.position ?? 0)).pipe(
      concatMap((item) => from('snapshot' in item ? Promise.resolve(this.snapshotMessage(item.snapshot)) : this.liveMessage(item.live))),
      filter((m): m is DrainProgress => m !== null),
    );
    return toAsyncIterator(messages);
  }

  private snapshotMessage(doc: Doc | null): DrainProgress | null {
    return doc ? { event: 'Snapshot', at: String(doc.updatedAt), drain: doc as unknown as Drain, vm: null } : null;
  }

  /** One message per event, from the event itself: the counters it carries and the VM it changed. */
  private async liveMessage(e: RecordedEvent): Promise<DrainProgress | null> {
    const id = String(e.data.drainId);
    const doc = await this.read.findOneAfterCommit('drains', id, e.position);
    if (!doc) return null;
    const d = e.data as DrainEvent['data'] & { vmid?: number; targetNode?: string; error?: string; reason?: string; restarted?: boolean };
    const { status, totalVMs, completedVMs, failedVMs, skippedVMs, inFlight, message } = d.progress;
    const drain = { ...doc, status, totalVMs, completedVMs, failedVMs, skippedVMs, inFlight, message } as unknown as Drain;
    let vm: VmMigration | null = null;
    const after = VM_STATUS_AFTER[e.type as DrainEvent['type']];
    if (after && d.vmid !== undefined) {
      const row = await this.read.findOneAfterCommit('drain_vms', `${id}:${d.vmid}`, e.position);
      vm = {
        ...(row as unknown as VmMigration),
        status: after,
        ...(d.targetNode ? { targetNode: d.targetNode } : {}),
        error: d.error ?? d.reason ?? (after === 'IN_PROGRESS' ? null : ((row?.error as string | null) ?? null)),
        ...(e.type === 'VmMigrationStarted' ? { startedAt: d.at, finishedAt: null } : { finishedAt: d.at }),
      };
    }
    return { event: e.type, at: d.at, drain, vm };
  }
}
