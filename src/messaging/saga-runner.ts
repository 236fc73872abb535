import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { EventStore, EventSubscription, RecordedEvent } from '../event-store/event-store.port';
import { ReadStore } from '../read-store/read-store.port';
import { BatchOptions, batches, DeferredCheckpoint } from './batches';
import { checkpointMismatch } from './checkpoint-check';
import { CommandContext } from './command-pipeline';
import { Leases, RunnerLease } from './leases';
import { DomainError } from './domain-errors';
import { Saga, SagaCommand } from './projection';
import { RunnerLogger } from './projection-runner';
import { RunnerState } from './runner-registry';

export const SAGAS_COLLECTION = 'sagas_state';

/** Sends one saga command (through the CommandBus in the app). */
export type SagaDispatch = (command: SagaCommand, context: CommandContext) => Promise<unknown>;

/** The context of a command a saga sends: every id derives from the triggering event. */
export function sagaContext(saga: string, event: RecordedEvent, key: string): CommandContext {
  return {
    actor: `saga:${saga} (for ${event.metadata.actor})`,
    correlationId: event.metadata.correlationId,
    causationId: event.id,
    requestId: `${saga}:${event.id}:${key}`,
    issuedAt: event.metadata.occurredAt,
  };
}

/**
 * Runs one saga from its own checkpoint. A crash between sending a command and saving the
 * checkpoint redelivers the event; the command's requestId (derived from the event) makes
 * the pipeline return the first result instead of acting twice. With a lease, only its holder
 * runs the saga; the others stand by and take over from the committed checkpoint.
 */
export class SagaRunner {
  state: RunnerState = 'starting';
  checkpoint = 0;
  private saved = 0;
  error: string | null = null;
  private stopped = false;
  /** Bumped whenever the loop must end (stop, or the lease lost): a loop of an older session exits. */
  private session = 0;
  private sub: EventSubscription | null = null;
  private loop: Promise<void> | null = null;
  private readonly infraRetry = retry(
    handleWhen((err) => !(err instanceof DomainError)),
    { maxAttempts: 10, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 5_000 }) },
  );

  constructor(
    readonly saga: Saga,
    private readonly events: EventStore,
    private readonly store: ReadStore,
    private readonly execute: SagaDispatch,
    private readonly options: BatchOptions,
    private readonly logger: RunnerLogger,
    private readonly lease?: RunnerLease,
  ) {}

  get name(): string {
    return this.saga.name;
  }

  async start(): Promise<void> {
    this.stopped = false;
    if (!this.lease) return this.begin();
    this.state = 'standby';
    await this.lease.start({ acquired: () => this.begin(), lost: () => this.standBy() });
  }

  /** Runs the saga from the committed checkpoint (at start, or on taking the lease over). */
  private async begin(): Promise<void> {
    if (this.stopped) return;
    const doc = await this.store.findOne(SAGAS_COLLECTION, { _id: this.name });
    this.checkpoint = (doc?.checkpoint as number | undefined) ?? 0;
    this.saved = this.checkpoint;
    await this.backToTheLog();
    this.error = null;
    this.state = 'running';
    const session = ++this.session;
    this.loop = this.run(session).catch((err) => {
      if (this.stopped || session !== this.session) return;
      this.state = 'failed';
      this.error = (err as Error).message;
      this.logger.error({ saga: this.name, err }, 'saga runner stopped');
    });
  }

  /**
   * A checkpoint past the end of the log (the log restored from a backup older than the read
   * store) would pass over the new events the log gives those positions to. The saga goes back to
   * the log's head: what the log holds up to it was seen already (so nothing is acted on twice),
   * and every event after it is new. Said in the log; the position is saved before it resumes.
   */
  private async backToTheLog(): Promise<void> {
    const head = await this.events.headPosition();
    const reason = await checkpointMismatch(this.events, head, this.checkpoint, null);
    if (!reason) return;
    this.logger.error({ saga: this.name, reason, checkpoint: this.checkpoint, head }, 'the saga checkpoint does not match the event log: resuming from the log\'s head');
    await this.saveCheckpoint(head);
  }

  /** The lease went elsewhere: end the loop; its holder sends the commands from now on. */
  private async standBy(): Promise<void> {
    this.session++;
    await this.sub?.close();
    await this.loop;
    if (!this.stopped) this.state = 'standby';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.lease?.halt();
    this.session++;
    await this.sub?.close();
    await this.loop;
    // A clean stop writes the checkpoint moved past skipped events.
    if (this.state === 'running' && this.checkpoint > this.saved) await this.saveCheckpoint(this.checkpoint).catch(() => undefined);
    await this.lease?.release();
    if (this.state !== 'failed') this.state = 'stopped';
  }

  private async run(session: number): Promise<void> {
    const sub = (this.sub = this.events.subscribeToAll({ after: this.checkpoint, payloadTypes: Object.keys(this.saga.handlers) }));
    try {
      await this.consume(sub, session);
    } finally {
      await sub.close();
    }
  }

  private async consume(sub: EventSubscription, session: number): Promise<void> {
    const deferred = new DeferredCheckpoint();
    for await (const batch of batches(sub, this.options)) {
      for (const event of batch) {
        if (session !== this.session) return;
        await this.handle(event);
      }
      const last = batch[batch.length - 1].position;
      // A batch with nothing for this saga moves the checkpoint in memory only, for a while.
      if (deferred.defer(batch.some((e) => this.saga.handlers[e.type]), batch.length)) {
        this.checkpoint = last;
        continue;
      }
      try {
        await this.saveCheckpoint(last);
      } catch (err) {
        if (!Leases.lost(err)) throw err;
        // Another instance holds the lease now and resumes from the last checkpoint written;
        // the commands sent for this batch are found done there (their requestIds derive from the events).
        this.lease?.dropped();
        this.logger.warn({ saga: this.name }, 'lease lost: standing by');
        this.state = 'standby';
        return;
      }
      deferred.written();
    }
  }

  private async saveCheckpoint(position: number): Promise<void> {
    await this.store.commit([
      ...(this.lease ? [this.lease.fence()] : []),
      { op: 'updateOne', collection: SAGAS_COLLECTION, filter: { _id: this.name }, update: { $set: { checkpoint: position } }, upsert: true },
    ]);
    this.checkpoint = position;
    this.saved = position;
  }

  /** Sends the commands an event calls for. A domain refusal is an outcome, logged; other errors are retried. */
  async handle(event: RecordedEvent): Promise<void> {
    const handler = this.saga.handlers[event.type];
    if (!handler) return;
    const commands = await handler(event);
    for (const c of commands) {
      const context = sagaContext(this.name, event, c.key);
      try {
        await this.infraRetry.execute(() => this.execute(c, context));
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        this.logger.warn(
          { saga: this.name, correlationId: context.correlationId, causationId: event.id, stream: c.stream, code: err.code, reason: err.message },
          'saga command refused by the domain',
        );
      }
    }
  }
}
