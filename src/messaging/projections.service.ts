import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { filter, Observable, Subject, Subscriber } from 'rxjs';
import { AppConfig } from '../config/config';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { Doc, Filter, FindOptions, READ_STORE, ReadStore } from '../read-store/read-store.port';
import { pagesOf } from '../read-store/scan';
import { NotFoundError, UnavailableError } from './domain-errors';
import { Leases, RunnerLease } from './leases';
import { Projection } from './projection';
import { Committed, ProjectionRunner, RebuildProgress, RunnerLogger } from './projection-runner';
import { DriftReport } from './projection-drift';
import { RunnerRegistry, RunnerState } from './runner-registry';

export const PROJECTIONS = Symbol('PROJECTIONS');

export interface ProjectionStatus {
  name: string;
  version: number;
  checkpoint: number;
  lag: { positions: number; seconds: number };
  state: RunnerState;
  failure: ProjectionRunner['failure'];
  rebuild: RebuildProgress | null;
  /** False while the read model is not served (not built from the log yet, or not matching it and being rebuilt). */
  serving: boolean;
  /** Why it is not served, and since when (null: found by this instance, not yet recorded by the one that runs it). */
  notServed: { reason: string; detectedAt: string | null } | null;
}

/**
 * A projection's runner as the app runs it: the batch settings from `[projections]`, and the
 * lease `projection:<name>`, whose fence goes with every write it makes.
 */
export function projectionRunner(
  projection: Projection,
  events: EventStore,
  store: ReadStore,
  config: AppConfig,
  leases: Leases,
  committed$: Subject<Committed>,
  logger: RunnerLogger,
): ProjectionRunner {
  return new ProjectionRunner(
    projection,
    events,
    store,
    { batchSize: config.projections.batch_size, maxWaitMs: config.projections.max_wait_ms },
    logger,
    committed$,
    new RunnerLease(leases, `projection:${projection.name}`, (err) => logger.warn({ projection: projection.name, err }, 'lease round failed')),
  );
}

/**
 * The read side's front door: runs every projection, answers queries against the
 * generation currently live, and lets mutations wait for their own writes.
 */
@Injectable()
export class ProjectionsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly runners = new Map<string, ProjectionRunner>();
  private readonly byCollection = new Map<string, ProjectionRunner>();
  /** Emits after each read-model commit: GraphQL subscriptions derive their messages from it. */
  readonly committed$ = new Subject<Committed>();
  /** Watchers of one stream's commits, by projection and stream (see `committedTo`). */
  private readonly streamWatchers = new Map<string, Map<string, Set<Subscriber<Committed>>>>();

  constructor(
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(READ_STORE) private readonly store: ReadStore,
    @Inject(PROJECTIONS) projections: readonly Projection[],
    private readonly config: AppConfig,
    registry: RunnerRegistry,
    private readonly logger: PinoLogger,
    leases: Leases,
  ) {
    this.logger.setContext('projections');
    for (const p of projections) {
      const runner = projectionRunner(p, events, store, config, leases, this.committed$, {
        info: (o, m) => logger.info(o, m),
        warn: (o, m) => logger.warn(o, m),
        error: (o, m) => logger.error(o, m),
      });
      this.runners.set(p.name, runner);
      for (const c of Object.keys(p.collections)) this.byCollection.set(c, runner);
      registry.register(`projection:${p.name}`, () => {
        const refused = runner.unavailable();
        return {
          name: p.name,
          kind: 'projection',
          state: runner.state,
          error: refused ? `not served: ${refused.reason}` : runner.failure?.error,
          serving: !refused,
          ...(refused?.rebuild ? { rebuild: { progress: refused.rebuild.progress, processed: refused.rebuild.processed, total: refused.rebuild.total } } : {}),
        };
      });
    }
    this.committed$.subscribe((c) => this.dispatchToStreams(c));
  }

  private dispatchToStreams(c: Committed): void {
    const byStream = this.streamWatchers.get(c.projection);
    if (!byStream) return;
    const targets = c.rebuilt ? [...byStream.values()] : [...new Set(c.events.map((e) => e.stream))].map((s) => byStream.get(s));
    for (const watchers of targets) for (const w of [...(watchers ?? [])]) w.next(c);
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const r of this.runners.values()) await r.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
  }

  private runner(name: string): ProjectionRunner {
    const r = this.runners.get(name);
    if (!r) throw new NotFoundError(`projection ${name} not found`, { projection: name });
    return r;
  }

  /**
   * The collection serving a logical one now. A read model not served (not built from the log
   * yet, or not matching it) is not read at all: the caller is told why (UNAVAILABLE, retryable),
   * never handed what it holds.
   */
  private physical(logical: string): string {
    const r = this.byCollection.get(logical);
    if (!r) throw new Error(`no projection declares the collection ${logical}`);
    const refused = r.unavailable();
    if (refused) {
      const p = refused.rebuild;
      throw new UnavailableError(
        `the ${r.name} read model is not served: ${refused.reason}${p ? ` (rebuild ${Math.floor(p.progress * 100)}% done)` : ''}. ` +
          'Writes are still recorded, and show once it is built; try again shortly.',
        { projection: r.name, reason: 'READ_MODEL_NOT_SERVED', detail: refused.reason, progress: p?.progress ?? null },
      );
    }
    return r.collection(logical);
  }

  findOne(collection: string, f: Filter): Promise<Doc | null> {
    return this.store.findOne(this.physical(collection), f);
  }

  find(collection: string, f: Filter, options?: FindOptions): Promise<Doc[]> {
    return this.store.find(this.physical(collection), f, options);
  }

  private readonly atCommit = new Map<string, Promise<Doc | null>>();

  /**
   * One read of a document per commit, shared by every subscriber that asks for it after that
   * commit: a hundred subscribers to one machine cost one query, not a hundred.
   */
  findOneAfterCommit(collection: string, id: string, position: number): Promise<Doc | null> {
    const key = `${collection}/${id}@${position}`;
    let p = this.atCommit.get(key);
    if (!p) {
      p = this.findOne(collection, { _id: id });
      this.atCommit.set(key, p);
      if (this.atCommit.size > 1000) this.atCommit.delete(this.atCommit.keys().next().value as string);
    }
    return p;
  }

  /** Every matching document in `_id` order, a page at a time (see `pagesOf`). */
  scan(collection: string, f: Filter, pageSize?: number): AsyncGenerator<Doc[]> {
    return pagesOf(this.store, this.physical(collection), f, pageSize);
  }

  count(collection: string, f: Filter): Promise<number> {
    return this.store.count(this.physical(collection), f);
  }

  /**
   * Read-your-writes, for a mutation's answer: resolves once the named projections serve a model
   * holding `position`. When the bounded wait ends first (a projection failed, or is behind), the
   * answer would be stale, so none is given: UNAVAILABLE saying that the change was recorded
   * (`recorded: true`, its position) and why it cannot be shown yet. The write is not to be sent
   * again; a read shows it once the model catches up.
   */
  async waitFor(names: readonly string[], position: number): Promise<void> {
    if (position <= 0 || (await this.settle(names, position))) return;
    const behind = names.map((n) => this.runner(n)).filter((r) => !r.covers(position));
    if (!behind.length) return;
    const failed = behind.find((r) => r.state === 'failed');
    const refused = behind.map((r) => ({ runner: r, refusal: r.unavailable() })).find((x) => x.refusal);
    const [reason, runner, why] = failed
      ? (['READ_MODEL_FAILED', failed, `the ${failed.name} read model has stopped on an error (${failed.failure?.error ?? 'unknown'}); see projections and retryProjection`] as const)
      : refused
        ? (['READ_MODEL_NOT_SERVED', refused.runner, `the ${refused.runner.name} read model is not served: ${refused.refusal?.reason}`] as const)
        : (['READ_MODEL_BEHIND', behind[0], `the ${behind.map((r) => r.name).join(' and ')} read model has not caught up within ${this.config.graphql.read_your_writes_timeout_ms} ms`] as const);
    throw new UnavailableError(`the change was recorded (log position ${position}), but it cannot be shown yet: ${why}. Do not send it again; read it once the read model catches up.`, {
      reason,
      projection: runner.name,
      recorded: true,
      position,
      retryable: false,
    });
  }

  /** The same wait for the app's own work: true once the named projections have committed `position`, false when the bounded wait ends first. */
  async settle(names: readonly string[], position: number): Promise<boolean> {
    if (position <= 0) return true;
    const timeout = this.config.graphql.read_your_writes_timeout_ms;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeout)));
    const caughtUp = Promise.all(names.map((n) => this.runner(n).waitFor(position))).then(() => names.every((n) => this.runner(n).covers(position)));
    const ok = await Promise.race([caughtUp, timedOut]);
    clearTimeout(timer);
    if (!ok) this.logger.warn({ projections: names, position, timeoutMs: timeout }, 'read-your-writes wait ended before the read models caught up');
    return ok;
  }

  /**
   * For work resumed from the read models (the executors): waits, with no bound, until each named
   * projection serves a model that has committed `position`: a partial model would hide work
   * still open. A model being rebuilt is waited for however long that takes; a failed or stopped
   * projection ends the wait (as `waitFor` does).
   */
  async caughtUp(names: readonly string[], position: number): Promise<void> {
    await Promise.all(names.map(async (n) => {
      const r = this.runner(n);
      await r.whenServing();
      await r.waitFor(position);
    }));
  }

  committedBy(projection: string): Observable<Committed> {
    return this.committed$.pipe(filter((c) => c.projection === projection));
  }

  /**
   * The commits of a projection that hold an event of one stream, or rebuilt the model. Each commit
   * is handed to the watchers of its streams only: a thousand watchers of other streams cost nothing.
   */
  committedTo(projection: string, stream: string): Observable<Committed> {
    return new Observable<Committed>((subscriber) => {
      let byStream = this.streamWatchers.get(projection);
      if (!byStream) this.streamWatchers.set(projection, (byStream = new Map()));
      let watchers = byStream.get(stream);
      if (!watchers) byStream.set(stream, (watchers = new Set()));
      watchers.add(subscriber);
      return () => {
        watchers.delete(subscriber);
        if (watchers.size === 0) byStream.delete(stream);
      };
    });
  }

  async statuses(): Promise<ProjectionStatus[]> {
    const head = await this.events.headPosition();
    return [...this.runners.values()].map((r) => this.status(r, head));
  }

  async statusOf(name: string): Promise<ProjectionStatus> {
    return this.status(this.runner(name), await this.events.headPosition());
  }

  private status(r: ProjectionRunner, head: number): ProjectionStatus {
    const positions = Math.max(head - r.checkpoint, 0);
    const seconds = positions > 0 && r.lastEventAt ? Math.max((Date.now() - Date.parse(r.lastEventAt)) / 1000, 0) : 0;
    const refused = r.unavailable();
    return {
      name: r.name,
      version: r.projection.version,
      checkpoint: r.checkpoint,
      lag: { positions, seconds: Math.round(seconds * 10) / 10 },
      state: r.state,
      failure: r.failure,
      rebuild: r.progress(),
      serving: !refused,
      notServed: refused ? { reason: refused.reason, detectedAt: refused.detectedAt } : null,
    };
  }

  async rebuild(name: string): Promise<ProjectionStatus> {
    await this.runner(name).beginRebuild();
    return this.statusOf(name);
  }

  verify(name: string): Promise<DriftReport> {
    return this.runner(name).verify();
  }

  async retry(name: string): Promise<ProjectionStatus> {
    await this.runner(name).retry();
    return this.statusOf(name);
  }

  rebuildProgress(name: string): Observable<RebuildProgress & { state: RunnerState }> {
    return this.runner(name).rebuildProgress$;
  }
}
