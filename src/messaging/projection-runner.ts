import { setTimeout as sleep } from 'node:timers/promises';
import { Subject } from 'rxjs';
import { EventStore, EventSubscription, RecordedEvent } from '../event-store/event-store.port';
import { Change, ConcurrentCommitError, Doc, ReadStore } from '../read-store/read-store.port';
import { BatchOptions, batches, DeferredCheckpoint } from './batches';
import { checkpointMismatch } from './checkpoint-check';
import { Leases, RunnerLease } from './leases';
import { physicalName, Projection } from './projection';
import { DriftReport, ShadowBuild } from './projection-drift';
import { RunnerState } from './runner-registry';

/** Live batches up to this size are committed one event at a time. */
const LIVE_SPLIT = 16;

/** The one document a change writes, or null when its filter could match several. */
function documentOf(ch: Change): string | null {
  if (ch.op === 'insertOne') return `${ch.collection}/${ch.doc._id}`;
  if (ch.op === 'updateMany' || ch.op === 'deleteMany') return null;
  const id = ch.filter._id;
  return typeof id === 'string' ? `${ch.collection}/${id}` : null;
}

/** How long a standby waits, at most, before it looks again for the holder's commit. */
const FOLLOW_POLL_MAX_MS = 50;

/** Projection bookkeeping lives in the read store itself, so it commits with the batch. */
export const PROJECTIONS_COLLECTION = 'projections_state';

export interface ProjectionFailure {
  position: number;
  eventId: string;
  eventType: string;
  error: string;
  at: string;
}

export interface RebuildProgress {
  generation: number;
  version: number;
  checkpoint: number;
  processed: number;
  total: number;
  startedAt: string;
  eventsPerSecond: number;
  etaSeconds: number | null;
  progress: number;
}

/**
 * Why a read model is not served. With `until`, it is being built from nothing (no read model for
 * a log that has events: a new, emptied or lost read store, or a new projection) and is served
 * once its live checkpoint reaches that position; without, it does not match the event log and a
 * rebuild from the log replaces it.
 */
export interface Refusal {
  reason: string;
  detectedAt: string;
  until?: number;
}

interface RebuildInfo {
  generation: number;
  version: number;
  checkpoint: number;
  /** The id of the event at `checkpoint` (absent in documents from before it was recorded). */
  checkpointId?: string | null;
  processed: number;
  total: number;
  startedAt: string;
}

interface StateDoc extends Doc {
  version: number;
  generation: number;
  checkpoint: number;
  /** The id of the event at `checkpoint`, so it can be found again in the log (absent in documents from before). */
  checkpointId?: string | null;
  failure: ProjectionFailure | null;
  rebuild: RebuildInfo | null;
  /** Set while the live generation is not served (see `Refusal`). */
  refused?: Refusal | null;
}

/** What a committed batch changed, announced only after the commit. */
export interface Committed {
  projection: string;
  position: number;
  events: RecordedEvent[];
  rebuilt?: boolean;
}

export interface RunnerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A promise-chain mutex: the live loop and a rebuild's swap never interleave. */
class Lock {
  private tail: Promise<void> = Promise.resolve();
  private runs = 0;
  /** A run is under way or waiting (counted until a moment after it ends). */
  get busy(): boolean {
    return this.runs > 0;
  }
  run<T>(fn: () => Promise<T>): Promise<T> {
    this.runs += 1;
    const result = this.tail.then(fn);
    const done = () => void (this.runs -= 1);
    this.tail = result.then(done, done);
    return result;
  }
}

/**
 * Runs one projection: a checkpointed subscription to `$all` whose every batch commits
 * together with its checkpoint, so a restart resumes exactly where the last commit ended.
 * A rebuild builds the next generation of the collections beside the live one and swaps
 * the generation pointer atomically once it has caught up.
 */
export class ProjectionRunner {
  state: RunnerState = 'starting';
  checkpoint = 0;
  /** The id of the event at `checkpoint` (null at 0, or when the state document predates ids). */
  private checkpointId: string | null = null;
  /** Recorded in the state document: the live generation is not served (see `Refusal`). */
  refused: Refusal | null = null;
  /** A commit that serves a model built from nothing is under way. */
  private serving = false;
  /** This instance's own finding, not (yet) recorded by the leader: not served meanwhile. */
  private suspect: string | null = null;
  private servingWaiters: Array<() => void> = [];
  /** The checkpoint as the store holds it (the compare-and-set value); `checkpoint` may be ahead by skipped events. */
  private persisted = 0;
  private readonly deferred = new DeferredCheckpoint();
  generation = 1;
  /** The version the live generation was built with; a leader applies nothing live until it matches the code's. */
  private liveVersion = 0;
  failure: ProjectionFailure | null = null;
  lastEventAt: string | null = null;
  /** The last position this instance has announced on committed$ (its own commits and other instances'). */
  private announcedUpTo = 0;
  private rebuildInfo: RebuildInfo | null = null;
  private rebuildStarted = 0;
  private rebuildProcessedAtStart = 0;
  private stopped = false;
  private liveSub: EventSubscription | null = null;
  private shadowSub: EventSubscription | null = null;
  private liveLoop: Promise<void> | null = null;
  private liveRunning = false;
  private shadowLoop: Promise<void> | null = null;
  private shadowRunning = false;
  private readonly lock = new Lock();
  private waiters: Array<{ position: number; resolve: () => void }> = [];
  readonly rebuildProgress$ = new Subject<RebuildProgress & { state: RunnerState }>();

  constructor(
    readonly projection: Projection,
    private readonly events: EventStore,
    private readonly store: ReadStore,
    private readonly options: BatchOptions,
    private readonly logger: RunnerLogger,
    private readonly committed$: Subject<Committed>,
    /** Without a lease the runner always leads (a single instance, and tests of the runner alone). */
    private readonly lease?: RunnerLease,
  ) {}

  /** Whether this instance applies the projection now; otherwise it stands by and follows the holder's commits. */
  private leads(): boolean {
    return !this.lease || this.lease.held;
  }

  /** The lease's fence, committed with every write this runner makes as the leader. */
  private fence(): Change[] {
    return this.lease ? [this.lease.fence()] : [];
  }

  get name(): string {
    return this.projection.name;
  }

  /** The physical collection currently serving a logical one. */
  collection(logical: string): string {
    return physicalName(logical, this.generation);
  }

  async start(): Promise<void> {
    this.stopped = false;
    const doc = (await this.readState()) ?? (await this.createState());
    this.generation = doc.generation;
    this.liveVersion = doc.version;
    this.checkpoint = doc.checkpoint;
    this.checkpointId = doc.checkpointId ?? null;
    this.persisted = doc.checkpoint;
    this.announcedUpTo = doc.checkpoint;
    this.rebuildInfo = doc.rebuild;
    this.refused = doc.refused ?? null;
    if (this.lease) {
      this.state = 'standby';
      this.failure = doc.failure;
      // Until the leader has recorded what it found (or this instance leads), its own look decides.
      this.suspect = await this.mismatchWithLog(doc);
      await this.lease.start({ acquired: () => this.takeOver(), lost: async () => this.stepDown(), tick: () => this.reconcile() });
    } else {
      await this.takeOver(doc);
    }
    // A leader whose live model has an older version applies nothing live until the rebuild swaps in.
    this.runLive();
  }

  /**
   * The first state document. With events in the log already (a read store that is new, emptied
   * or lost, or a projection added to a running fleet), the model is not served until it has
   * caught up with the log as it is now: a model part-built is not the log's read model. An
   * upsert, so two instances starting together create one state document.
   */
  private async createState(): Promise<StateDoc> {
    await this.ensureIndexes(1);
    const head = await this.events.headPosition();
    const at = new Date().toISOString();
    const refused: Refusal | null = head > 0 ? { reason: `no read model in the read store for an event log of ${head} positions (a new, emptied or lost read store, or a new projection): building it from the log`, detectedAt: at, until: head } : null;
    const initial = { version: this.projection.version, generation: 1, checkpoint: 0, checkpointId: null, failure: null, rebuild: null, refused };
    await this.store.commit([
      { op: 'updateOne', collection: PROJECTIONS_COLLECTION, filter: { _id: this.name }, update: { $setOnInsert: initial }, upsert: true },
    ]);
    const doc = (await this.readState())!;
    if (doc.refused) this.logger.warn({ projection: this.name, refused: doc.refused }, 'no read model for the event log: not serving it until it is built from the log');
    return doc;
  }

  /**
   * A model built from nothing has reached the log's head as it was at its start: it is served
   * from now on (recorded for every instance). The leader's, after its checkpoint moved.
   */
  private maybeServe(): void {
    const until = this.refused?.until;
    if (until === undefined || this.checkpoint < until || this.serving || !this.leads()) return;
    this.serving = true;
    const generation = this.generation;
    this.store
      .commit([
        ...this.fence(),
        { op: 'updateOne', collection: PROJECTIONS_COLLECTION, filter: { _id: this.name, generation, 'refused.until': until }, update: { $set: { refused: null } }, mustMatch: true },
      ])
      .then(
        () => {
          if (this.generation !== generation || this.refused?.until !== until) return;
          this.refused = null;
          this.logger.info({ projection: this.name, checkpoint: this.checkpoint }, 'built from the log: the read model is served');
          this.servingAgain();
        },
        // Refused: another instance served it, or swapped a generation in; the next round reads the state again.
        (err: unknown) => {
          if (!(err instanceof ConcurrentCommitError) && !Leases.lost(err)) this.logger.warn({ projection: this.name, err }, 'could not record that the read model is built');
        },
      )
      .finally(() => (this.serving = false));
  }

  /**
   * This instance leads now (at start, or on taking the lease over): resume from the committed
   * state, after checking it against the log (a mismatch is recorded, and rebuilt), rebuilding
   * first if the code's version is not the live one.
   */
  private async takeOver(known?: StateDoc): Promise<void> {
    if (this.stopped) return;
    const doc = known ?? (await this.readState())!;
    this.adopt(doc, []);
    this.liveVersion = doc.version;
    this.failure = null;
    this.state = 'running';
    if (doc.failure) this.logger.warn({ projection: this.name, failure: doc.failure }, 'retrying a projection that failed before');
    const mismatch = await this.mismatchWithLog(doc);
    if (mismatch) return this.recover(doc, mismatch);
    this.suspectThat(null);
    this.maybeServe();
    if (doc.refused && doc.refused.until === undefined && !doc.rebuild) {
      // Refused without its rebuild (not written so by this code): rebuild now.
      await this.beginRebuild();
    } else if (doc.version !== this.projection.version && !doc.rebuild) {
      this.logger.info({ projection: this.name, from: doc.version, to: this.projection.version }, 'projection version changed: rebuilding');
      await this.beginRebuild();
    } else if (doc.rebuild) {
      this.logger.info({ projection: this.name, rebuild: doc.rebuild }, 'resuming an interrupted rebuild');
      this.runShadow();
    }
  }

  /** The lease went to another instance: apply nothing more, follow its commits. */
  private stepDown(): void {
    if (this.stopped) return;
    this.lease?.dropped();
    if (this.state !== 'failed') this.logger.warn({ projection: this.name }, 'lease lost: standing by');
    this.state = 'standby';
    void this.shadowSub?.close();
    this.runLive();
  }

  /**
   * At every lease round: a leader picks up a rebuild or a retry requested on another instance;
   * a standby mirrors the shared state (generation, rebuild, failure).
   */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const doc = await this.readState();
    if (!doc) return;
    const mismatch = await this.mismatchWithLog(doc);
    if (!this.leads()) {
      this.adopt(doc, []);
      this.suspectThat(mismatch);
      return;
    }
    if (mismatch) return this.recover(doc, mismatch);
    this.suspectThat(null);
    this.maybeServe();
    if (this.state === 'failed' && !doc.failure) await this.retry();
    else if (doc.rebuild && !this.shadowRunning && this.state !== 'failed') {
      this.rebuildInfo = doc.rebuild;
      this.runShadow();
    }
  }

  /**
   * Checks the state against the log (see `checkpointMismatch`): the live checkpoint (unless it
   * is known not to match and being rebuilt), this instance's checkpoint in memory, and a
   * rebuild's. Everything checked is read before the head is. Why it does not match, or null.
   * A log that cannot be read now is no finding: the next round looks again.
   */
  private async mismatchWithLog(doc: StateDoc): Promise<string | null> {
    const memory = { checkpoint: this.checkpoint, id: this.checkpointId };
    try {
      const head = await this.events.headPosition();
      if (!doc.refused || doc.refused.until !== undefined) {
        const live = await checkpointMismatch(this.events, head, doc.checkpoint, doc.checkpointId);
        if (live) return live;
        if (memory.checkpoint !== doc.checkpoint) {
          const ahead = await checkpointMismatch(this.events, head, memory.checkpoint, memory.id);
          if (ahead) return ahead;
        }
      }
      const r = doc.rebuild;
      const rebuild = r ? await checkpointMismatch(this.events, head, r.checkpoint, r.checkpointId) : null;
      return rebuild ? `its rebuild's ${rebuild}` : null;
    } catch (err) {
      this.logger.warn({ projection: this.name, err }, 'could not check the read model against the event log');
      return null;
    }
  }

  /**
   * The live generation does not match the log: stop applying to it, record why (everyone stops
   * serving it), and rebuild from the log into a fresh generation, which swaps in and is served.
   * A rebuild under way starts over too: its checkpoint is no surer than the live one's.
   */
  private async recover(doc: StateDoc, reason: string): Promise<void> {
    this.suspect = reason;
    this.logger.error(
      { projection: this.name, reason, checkpoint: doc.checkpoint, checkpointId: doc.checkpointId ?? null, generation: doc.generation },
      'the read model does not match the event log: not serving it, rebuilding it from the log',
    );
    await Promise.all([this.liveSub?.close(), this.shadowSub?.close()]);
    await Promise.allSettled([this.liveLoop, this.shadowLoop]);
    const at = new Date().toISOString();
    const refused: Refusal = { reason, detectedAt: at };
    const info: RebuildInfo = {
      generation: doc.rebuild?.generation ?? doc.generation + 1,
      version: this.projection.version,
      checkpoint: 0,
      checkpointId: null,
      processed: 0,
      total: await this.events.headPosition(),
      startedAt: at,
    };
    try {
      await this.store.commit([
        ...this.fence(),
        { op: 'updateOne', collection: PROJECTIONS_COLLECTION, filter: { _id: this.name, generation: doc.generation }, update: { $set: { refused, rebuild: info, failure: null } }, mustMatch: true },
      ]);
    } catch (err) {
      if (Leases.lost(err)) return this.stepDown();
      if (!(err instanceof ConcurrentCommitError)) throw err;
      // Another instance swapped a generation in meanwhile: the next round looks again.
      return;
    }
    this.refused = refused;
    this.suspect = null;
    this.failure = null;
    this.rebuildInfo = info;
    this.state = 'running';
    this.runShadow();
  }

  /** Why this read model is not to be served now (with its rebuild's progress), or null when it is. */
  unavailable(): { reason: string; detectedAt: string | null; rebuild: RebuildProgress | null } | null {
    if (this.refused) return { reason: this.refused.reason, detectedAt: this.refused.detectedAt, rebuild: this.progress() };
    if (this.suspect) return { reason: this.suspect, detectedAt: null, rebuild: this.progress() };
    return null;
  }

  /** Resolves once the read model is served (or the runner stops). */
  whenServing(): Promise<void> {
    if (!this.unavailable() || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.servingWaiters.push(resolve));
  }

  private suspectThat(reason: string | null): void {
    this.suspect = reason;
    this.servingAgain();
  }

  private servingAgain(): void {
    if (this.unavailable()) return;
    for (const w of this.servingWaiters.splice(0)) w();
    this.resolveWaiters();
  }

  /** The shared state, as a copy of its own: the runner keeps and updates parts of it (the rebuild's progress). */
  private async readState(): Promise<StateDoc | null> {
    const doc = await this.store.findOne(PROJECTIONS_COLLECTION, { _id: this.name });
    return doc ? (structuredClone(doc) as StateDoc) : null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.lease?.halt();
    await Promise.all([this.liveSub?.close(), this.shadowSub?.close()]);
    await Promise.allSettled([this.liveLoop, this.shadowLoop]);
    await this.persistSkipped();
    await this.lease?.release();
    if (this.state !== 'failed') this.state = 'stopped';
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    for (const w of this.servingWaiters.splice(0)) w();
  }

  /** On a clean stop, the checkpoint moved past skipped events is written, so a restart need not re-read them. */
  private async persistSkipped(): Promise<void> {
    if (this.checkpoint <= this.persisted || this.state === 'failed' || !this.leads()) return;
    try {
      await this.store.commit([
        ...this.fence(),
        { op: 'updateOne', collection: PROJECTIONS_COLLECTION, filter: { _id: this.name, generation: this.generation, checkpoint: this.persisted }, update: { $set: { checkpoint: this.checkpoint, checkpointId: this.checkpointId } }, mustMatch: true },
      ]);
      this.persisted = this.checkpoint;
    } catch (err) {
      // Another instance moved it meanwhile (or the store is gone): the next start re-reads a few ignored events.
      if (!(err instanceof ConcurrentCommitError)) this.logger.warn({ projection: this.name, err }, 'could not write the checkpoint on stop');
    }
  }

  /**
   * Resolves once this projection serves a model that has committed every event up to `position`
   * (or is not running). A model not served is waited for: its checkpoint is not the log's.
   */
  /** Does the model served now hold every event up to `position`? */
  covers(position: number): boolean {
    return this.checkpoint >= position && !this.unavailable();
  }

  waitFor(position: number): Promise<void> {
    if ((this.checkpoint >= position && !this.unavailable()) || this.state === 'failed' || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ position, resolve }));
  }

  /** After a fix: clear the failure and try the failed event again (on a standby: ask the leader to, at its next lease round). */
  async retry(): Promise<void> {
    if (!this.leads()) {
      await this.store.commit([{ op: 'updateOne', collection: PROJECTIONS_COLLECTION, filter: { _id: this.name }, update: { $set: { failure: null } } }]);
      this.failure = null;
      return;
    }
    if (this.state !== 'failed') return;
    // The failed loops may still be closing their subscriptions: a new one starts after they end.
    await Promise.allSettled([this.liveLoop, this.shadowLoop]);
    this.failure = null;
    await this.store.commit([{ op: 'updateOne', collection: PROJECTIONS_COLLECTION, filter: { _id: this.name }, update: { $set: { failure: null } } }]);
    this.state = 'running';
    if (this.rebuildInfo) this.runShadow();
    if (this.rebuildInfo?.version === this.projection.version || !this.rebuildInfo) this.runLive();
  }

  /**
   * Drift check: rebuilds the projection privately and compares it with the live read model at
   * the same log position. The bulk of the rebuild runs beside the live loop; the last few events
   * and the comparison run under its lock, so the live model cannot move while it is compared.
   */
  async verify(limit = 50): Promise<DriftReport> {
    const shadow = new ShadowBuild(this.projection, this.events, this.store);
    try {
      await shadow.prepare();
      if (!this.leads()) return await this.verifyFollowing(shadow, limit);
      await shadow.applyUpTo(this.checkpoint);
      return await this.lock.run(async () => {
        await shadow.applyUpTo(this.checkpoint);
        return shadow.compare((logical) => this.collection(logical), this.checkpoint, limit);
      });
    } finally {
      await shadow.drop();
    }
  }

  /** On a standby the holder moves the model: compare at the committed checkpoint, again if it moved meanwhile. */
  private async verifyFollowing(shadow: ShadowBuild, limit: number): Promise<DriftReport> {
    for (;;) {
      const before = (await this.readState())!;
      await shadow.applyUpTo(before.checkpoint);
      const report = await shadow.compare((logical) => physicalName(logical, before.generation), before.checkpoint, limit);
      const after = (await this.readState())!;
      if (after.checkpoint === before.checkpoint && after.generation === before.generation) return report;
      if (after.generation !== before.generation) return this.verify(limit);
    }
  }

  /**
   * Starts a blue/green rebuild into the next generation; the live read model keeps serving.
   * Recorded with a compare-and-set, so one rebuild runs at a time whoever asks; a standby's
   * request is taken up by the leader at its next lease round.
   */
  async beginRebuild(): Promise<RebuildProgress> {
    if (this.rebuildInfo) return this.progress()!;
    const info: RebuildInfo = {
      generation: this.generation + 1,
      version: this.projection.version,
      checkpoint: 0,
      checkpointId: null,
      processed: 0,
      total: await this.events.headPosition(),
      startedAt: new Date().toISOString(),
    };
    try {
      await this.store.commit([
        { op: 'updateOne', collection: PROJECTIONS_COLLECTION, filter: { _id: this.name, generation: this.generation, rebuild: null }, update: { $set: { rebuild: info } }, mustMatch: true },
      ]);
    } catch (err) {
      if (!(err instanceof ConcurrentCommitError)) throw err;
      // Another instance started one, or swapped one in: report from the shared state.
      this.adopt((await this.readState())!, []);
      return this.beginRebuild();
    }
    this.rebuildInfo = info;
    if (this.leads()) this.runShadow();
    return this.progress()!;
  }

  progress(): RebuildProgress | null {
    const r = this.rebuildInfo;
    if (!r) return null;
    const seconds = Math.max((Date.now() - this.rebuildStarted) / 1000, 0.001);
    const rate = (r.processed - this.rebuildProcessedAtStart) / seconds;
    const remaining = Math.max(r.total - r.checkpoint, 0);
    return {
      ...r,
      eventsPerSecond: Math.round(rate),
      etaSeconds: rate > 0 ? Math.round(remaining / rate) : null,
      progress: r.total > 0 ? Math.min(r.checkpoint / r.total, 1) : 1,
    };
  }

  private async ensureIndexes(generation: number): Promise<void> {
    for (const [logical, spec] of Object.entries(this.projection.collections)) {
      await this.store.ensureIndexes(physicalName(logical, generation), spec.indexes ?? []);
    }
  }

  private runLive(): void {
    if (this.liveRunning) return;
    this.liveRunning = true;
    this.liveLoop = this.live()
      .catch((err) => this.crash(err))
      .finally(() => (this.liveRunning = false));
  }

  private runShadow(): void {
    if (this.shadowRunning) return;
    this.shadowRunning = true;
    this.state = 'rebuilding';
    this.rebuildStarted = Date.now();
    this.rebuildProcessedAtStart = this.rebuildInfo?.processed ?? 0;
    this.shadowLoop = this.shadow()
      .catch((err) => this.crash(err))
      .finally(() => (this.shadowRunning = false));
  }

  private crash(err: unknown): void {
    if (this.stopped) return;
    this.state = 'failed';
    this.logger.error({ projection: this.name, err }, 'projection runner stopped on an unexpected error');
  }

  private async live(): Promise<void> {
    while (!this.stopped && this.state !== 'failed') {
      const from = this.checkpoint;
      const generation = this.generation;
      this.liveSub = this.events.subscribeToAll({ after: from, payloadTypes: Object.keys(this.projection.handlers) });
      let restart = false;
      for await (const batch of batches(this.liveSub, this.options)) {
        const outcome = await this.liveBatch(batch, generation);
        if (outcome === 'restart') {
          restart = true;
          break;
        }
        if (outcome === 'failed' || outcome === 'parked' || this.stopped) break;
      }
      await this.liveSub.close();
      // A swap closes the subscription of a loop left waiting after the old generation's checkpoint
      // (which a model that did not match the log may have past the log's end): go on from the new one.
      if (!restart && (this.generation === generation || this.stopped)) return;
    }
  }

  /** One live batch: applied by the leader, followed by a standby; a lost lease turns the rest of it over to following. */
  private async liveBatch(batch: RecordedEvent[], generation: number): Promise<'ok' | 'failed' | 'restart' | 'parked'> {
    for (;;) {
      if (!this.leads()) {
        const followed = await this.follow(batch, generation);
        if (followed !== 'lead') return followed;
      }
      // The rebuild (to the code's version, or of a model that does not match the log) swaps in and starts the live loop again.
      if (this.liveVersion !== this.projection.version || (this.refused && this.refused.until === undefined) || this.suspect) return 'parked';
      if (this.passesOver(batch, generation)) return 'ok';
      const outcome = await this.lock.run(async () => {
        // A swap moved the live model to another generation and checkpoint: resubscribe there.
        if (this.generation !== generation) return 'restart' as const;
        this.announceCommittedElsewhere(batch);
        const fresh = batch.filter((e) => e.position > this.checkpoint);
        if (fresh.length === 0) return 'ok' as const;
        // Live and near real time, no document changes twice in one commit: each state of a
        // document is committed and announced, so a subscriber never misses an intermediate one.
        // Catch-up batches stay whole.
        const parts = fresh.length <= LIVE_SPLIT ? this.splitAtRepeatedDocument(fresh) : [fresh];
        for (const part of parts) {
          const r = await this.applyBatch(part, generation, 'live');
          if (r === 'failed' || r === 'lost') return r;
          if (this.generation !== generation) return 'restart' as const;
          // Another instance may have committed past this part: tell our clients about the rest of the batch too.
          this.announceCommittedElsewhere(fresh);
        }
        return 'ok' as const;
      });
      if (outcome !== 'lost') return outcome;
    }
  }

  /**
   * A live batch with nothing for this projection, while nothing else holds the lock (a swap, a
   * verify, a retry): moves the checkpoint in memory, as `commitEvents` does for such a batch,
   * without the lock's turn and the commit path's promises. Most batches are such for most
   * projections: every runner hears every event. False when the batch needs the full path
   * (an event it handles, or the skipped events are due to be written with the checkpoint).
   */
  private passesOver(batch: RecordedEvent[], generation: number): boolean {
    if (this.lock.busy || this.generation !== generation) return false;
    const handlers = this.projection.handlers;
    let fresh = 0;
    for (const e of batch) {
      if (Object.hasOwn(handlers, e.type)) return false;
      if (e.position > this.checkpoint) fresh += 1;
    }
    this.announceCommittedElsewhere(batch);
    if (fresh === 0) return true;
    if (!this.deferred.defer(false, fresh)) return false;
    this.passedInMemory(batch[batch.length - 1]);
    return true;
  }

  /** Past a batch it had nothing for, in memory only: the next commit carries the checkpoint. */
  private passedInMemory(last: RecordedEvent): void {
    this.checkpoint = last.position;
    this.checkpointId = last.id;
    this.lastEventAt = last.recordedAt;
    this.announcedUpTo = last.position;
    this.resolveWaiters();
    this.maybeServe();
  }

  /**
   * A standby's batch: wait until the holder has committed the last event here this projection
   * handles (polling the shared checkpoint, a little longer each time), then move past the batch
   * and tell this instance's clients what was committed. Takes the batch over if the lease comes here.
   */
  private async follow(batch: RecordedEvent[], generation: number): Promise<'ok' | 'restart' | 'lead'> {
    let target = 0;
    for (const e of batch) if (e.type in this.projection.handlers) target = e.position;
    for (let wait = 1; this.checkpoint < target; wait = Math.min(wait * 2, FOLLOW_POLL_MAX_MS)) {
      if (this.stopped) return 'ok';
      if (this.leads()) return 'lead';
      const doc = (await this.readState())!;
      this.adopt(doc, batch);
      if (doc.generation !== generation) return 'restart';
      if (this.checkpoint < target) await sleep(wait);
    }
    const last = batch[batch.length - 1];
    if (last.position > this.checkpoint) {
      this.checkpoint = last.position;
      this.checkpointId = last.id;
      this.lastEventAt = last.recordedAt;
    }
    this.announceCommittedElsewhere(batch);
    this.resolveWaiters();
    return 'ok';
  }

  private async shadow(): Promise<void> {
    const info = this.rebuildInfo!;
    if (info.checkpoint === 0) {
      // A rebuild that has not committed anything yet starts from empty collections.
      for (const logical of Object.keys(this.projection.collections)) await this.store.dropCollection(physicalName(logical, info.generation));
      await this.ensureIndexes(info.generation);
    }
    this.shadowSub = this.events.subscribeToAll({ after: info.checkpoint, payloadTypes: Object.keys(this.projection.handlers) });
    // Large batches: a rebuild's commits are what it waits for (handed to the read store's writer),
    // and a document changed by several events of one batch is written once.
    const it = batches(this.shadowSub, { ...this.options, batchSize: Math.max(this.options.batchSize, 4000) });
    for await (const batch of it) {
      if (this.stopped || !this.leads()) break;
      const r = await this.applyBatch(batch, info.generation, 'shadow');
      if (r === 'failed' || r === 'lost') break;
      if (r === 'superseded') {
        // Another instance finished (or replaced) this rebuild.
        this.runLive();
        break;
      }
      this.publishProgress();
      // Caught up with the log: finish under the lock, so the live loop cannot commit in between.
      if (info.checkpoint >= (await this.events.headPosition())) {
        const swapped = await this.lock.run(() => this.swap());
        if (swapped) break;
      }
    }
    await this.shadowSub.close();
  }

  /** Applies what is left of the log to the new generation and makes it the live one, atomically. */
  private async swap(): Promise<boolean> {
    const info = this.rebuildInfo!;
    for (;;) {
      const rest = await this.events.readAll({ from: info.checkpoint, maxCount: 1000 });
      if (rest.length === 0) break;
      const r = await this.applyBatch(rest, info.generation, 'shadow');
      if (r === 'failed') return false;
      if (r === 'superseded' || r === 'lost') return true;
    }
    const old = this.generation;
    try {
      await this.store.commit([
        ...this.fence(),
        {
          op: 'updateOne',
          collection: PROJECTIONS_COLLECTION,
          filter: { _id: this.name, generation: old, 'rebuild.generation': info.generation },
          update: { $set: { generation: info.generation, version: info.version, checkpoint: info.checkpoint, checkpointId: info.checkpointId ?? null, rebuild: null, failure: null, refused: null } },
          mustMatch: true,
        },
      ]);
    } catch (err) {
      if (Leases.lost(err)) {
        this.stepDown();
        return true;
      }
      if (!(err instanceof ConcurrentCommitError)) throw err;
      const r = await this.resync([], 'shadow');
      return r === 'superseded';
    }
    this.generation = info.generation;
    this.liveVersion = info.version;
    this.checkpoint = info.checkpoint;
    this.checkpointId = info.checkpointId ?? null;
    this.persisted = info.checkpoint;
    this.deferred.written();
    this.rebuildInfo = null;
    this.failure = null;
    this.state = 'running';
    const recovered = this.refused;
    this.refused = null;
    this.suspect = null;
    this.publishProgress(info);
    for (const logical of Object.keys(this.projection.collections)) await this.store.dropCollection(physicalName(logical, old));
    // The live loop may be waiting on a subscription after the old checkpoint: it starts again from this one.
    void this.liveSub?.close();
    if (recovered) this.logger.warn({ projection: this.name, generation: info.generation, checkpoint: info.checkpoint, refused: recovered }, 'rebuilt from the log: the read model is served again');
    else this.logger.info({ projection: this.name, generation: info.generation, checkpoint: info.checkpoint }, 'rebuild swapped in');
    this.servingAgain();
    this.committed$.next({ projection: this.name, position: this.checkpoint, events: [], rebuilt: true });
    this.runLive();
    return true;
  }

  /**
   * Applies a batch to a generation and commits it with the checkpoint. An event whose
   * handler throws, or whose changes the store refuses, stops this projection at that
   * event (recorded with its position and error); everything before it is committed.
   * If another instance committed first (the checkpoint moved under us), resync and go on
   * from where it left off: nothing is applied twice.
   */
  private async applyBatch(batch: RecordedEvent[], generation: number, target: 'live' | 'shadow'): Promise<'ok' | 'failed' | 'superseded' | 'lost'> {
    for (let attempt = 0; attempt < 1000; attempt++) {
      try {
        await this.commitEvents(batch, generation, target);
        return 'ok';
      } catch (err) {
        if (Leases.lost(err)) {
          // The fence refused the batch: another instance holds the lease now. Nothing of it was applied.
          this.stepDown();
          return 'lost';
        }
        if (err instanceof ConcurrentCommitError) {
          const next = await this.resync(batch, target);
          if (next !== 'retry') return next;
          continue;
        }
        // Find the culprit: commit one event at a time up to it.
        for (const e of batch) {
          try {
            await this.commitEvents([e], generation, target);
          } catch (single) {
            if (single instanceof ConcurrentCommitError) break;
            await this.fail(e, single);
            return 'failed';
          }
        }
      }
    }
    throw new Error(`projection ${this.name}: could not commit a batch after 1000 concurrent commits`);
  }

  /**
   * Parts in which no document is changed by two events; the events the projection ignores ride
   * along. A change that names no single document (no plain `_id`) gets a part of its own.
   * Events on different machines commit together; two on one machine commit one after the other.
   */
  private splitAtRepeatedDocument(events: RecordedEvent[]): RecordedEvent[][] {
    const parts: RecordedEvent[][] = [];
    let current: RecordedEvent[] = [];
    let touched = new Set<string>();
    const cut = () => {
      if (current.length) parts.push(current);
      current = [];
      touched = new Set();
    };
    for (const e of events) {
      const handler = this.projection.handlers[e.type];
      const docs = handler ? handler(e).map(documentOf) : [];
      const alone = docs.includes(null);
      if (alone || docs.some((d) => touched.has(d!))) cut();
      current.push(e);
      for (const d of docs) touched.add(d!);
      if (alone) cut();
    }
    cut();
    return parts;
  }

  /** Another instance committed: adopt its checkpoint (and generation), and tell our own clients what it committed. */
  private async resync(batch: RecordedEvent[], target: 'live' | 'shadow'): Promise<'retry' | 'ok' | 'superseded'> {
    const doc = await this.readState();
    if (!doc) throw new Error(`projection ${this.name}: its state document disappeared`);
    if (target === 'shadow') {
      const mine = this.rebuildInfo!;
      if (!doc.rebuild || doc.rebuild.generation !== mine.generation) {
        this.adopt(doc, batch);
        return 'superseded';
      }
      mine.checkpoint = doc.rebuild.checkpoint;
      mine.checkpointId = doc.rebuild.checkpointId ?? null;
      mine.processed = doc.rebuild.processed;
      return 'retry';
    }
    const generationChanged = doc.generation !== this.generation;
    this.adopt(doc, batch);
    // After a swap elsewhere, the live loop resubscribes from the new checkpoint.
    return generationChanged ? 'ok' : 'retry';
  }

  private adopt(doc: StateDoc, batch: RecordedEvent[]): void {
    if (doc.generation !== this.generation) this.suspect = null;
    this.generation = doc.generation;
    this.rebuildInfo = doc.rebuild;
    this.refused = doc.refused ?? null;
    if (!this.leads()) {
      this.failure = doc.failure;
      this.liveVersion = doc.version;
    }
    if (!doc.rebuild && this.state === 'rebuilding') this.state = 'running';
    if (doc.checkpoint > this.checkpoint) {
      this.checkpoint = doc.checkpoint;
      this.checkpointId = doc.checkpointId ?? null;
    }
    this.persisted = doc.checkpoint;
    this.servingAgain();
    this.announceCommittedElsewhere(batch);
  }

  /** Events another instance has committed (at or below our adopted checkpoint) that our clients have not heard of. */
  private announceCommittedElsewhere(batch: RecordedEvent[]): void {
    const committed = batch.filter((e) => e.position > this.announcedUpTo && e.position <= this.checkpoint);
    if (committed.length === 0) return;
    this.announcedUpTo = committed[committed.length - 1].position;
    if (committed.some((e) => this.projection.handlers[e.type])) {
      this.committed$.next({ projection: this.name, position: this.announcedUpTo, events: committed });
    }
  }

  private async commitEvents(input: RecordedEvent[], generation: number, target: 'live' | 'shadow'): Promise<void> {
    // Apply each position once, in order, past the checkpoint: a redelivered event is a no-op.
    let floor = target === 'live' ? this.checkpoint : this.rebuildInfo!.checkpoint;
    const batch: RecordedEvent[] = [];
    for (const e of input) {
      if (e.position > floor) {
        batch.push(e);
        floor = e.position;
      }
    }
    if (batch.length === 0) return;
    // The fence goes first: a holder that lost its lease is told so, rather than that the checkpoint moved.
    const changes: Change[] = [...this.fence()];
    let handled = 0;
    for (const e of batch) {
      const handler = this.projection.handlers[e.type];
      if (!handler) continue;
      handled += 1;
      for (const ch of handler(e)) changes.push({ ...ch, collection: physicalName(ch.collection, generation) } as Change);
    }
    const last = batch[batch.length - 1];
    if (target === 'live' && this.deferred.defer(handled > 0, batch.length)) {
      this.passedInMemory(last);
      return;
    }
    // The checkpoint is a compare-and-set: the batch commits only if nobody moved it since we read it.
    if (target === 'live') {
      changes.push({
        op: 'updateOne',
        collection: PROJECTIONS_COLLECTION,
        filter: { _id: this.name, generation, checkpoint: this.persisted },
        update: { $set: { checkpoint: last.position, checkpointId: last.id } },
        mustMatch: true,
      });
    } else {
      const info = this.rebuildInfo!;
      changes.push({
        op: 'updateOne',
        collection: PROJECTIONS_COLLECTION,
        filter: { _id: this.name, 'rebuild.generation': info.generation, 'rebuild.checkpoint': info.checkpoint },
        update: { $set: { 'rebuild.checkpoint': last.position, 'rebuild.checkpointId': last.id, 'rebuild.processed': info.processed + batch.length } },
        mustMatch: true,
      });
    }
    await this.store.commit(changes, last.position);
    if (target === 'live') {
      this.checkpoint = last.position;
      this.checkpointId = last.id;
      this.persisted = last.position;
      this.deferred.written();
      this.lastEventAt = last.recordedAt;
      this.resolveWaiters();
      this.maybeServe();
      this.announcedUpTo = last.position;
      if (handled > 0) this.committed$.next({ projection: this.name, position: last.position, events: batch });
    } else {
      this.rebuildInfo!.checkpoint = last.position;
      this.rebuildInfo!.checkpointId = last.id;
      this.rebuildInfo!.processed += batch.length;
    }
  }

  private async fail(event: RecordedEvent, err: unknown): Promise<void> {
    this.failure = {
      position: event.position,
      eventId: event.id,
      eventType: event.type,
      error: err instanceof Error ? err.message : String(err),
      at: new Date().toISOString(),
    };
    this.state = 'failed';
    this.logger.error({ projection: this.name, failure: this.failure }, 'projection stopped at an event it cannot apply');
    const record: Change = { op: 'updateOne', collection: PROJECTIONS_COLLECTION, filter: { _id: this.name }, update: { $set: { failure: this.failure } } };
    await Promise.resolve()
      .then(() => this.store.commit([...this.fence(), record]))
      .catch(() => undefined);
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }

  private resolveWaiters(): void {
    if (!this.waiters.length || this.unavailable()) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) (w.position <= this.checkpoint ? w.resolve() : still.push(w));
    this.waiters = still;
  }

  private publishProgress(done?: RebuildInfo): void {
    const p = done ? { ...done, eventsPerSecond: 0, etaSeconds: 0, progress: 1 } : this.progress();
    if (p) this.rebuildProgress$.next({ ...p, state: this.state });
  }
}
