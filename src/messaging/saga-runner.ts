import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { EventStore, EventSubscription, RecordedEvent } from '../event-store/event-store.port';
import { ReadStore } from '../read-store/read-store.port';
import { BatchOptions, batches, DeferredCheckpoint } from './batches';
import { CommandContext } from './command-pipeline';
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
 * the pipeline return the first result instead of acting twice.
 */
export class SagaRunner {
  state: RunnerState = 'starting';
  checkpoint = 0;
  private saved = 0;
  error: string | null = null;
  private stopped = false;
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
  ) {}

  get name(): string {
    return this.saga.name;
  }

  async start(): Promise<void> {
    const doc = await this.store.findOne(SAGAS_COLLECTION, { _id: this.name });
    this.checkpoint = (doc?.checkpoint as number | undefined) ?? 0;
    this.saved = this.checkpoint;
    this.stopped = false;
    this.state = 'running';
    this.loop = this.run().catch((err) => {
      if (this.stopped) return;
      this.state = 'failed';
      this.error = (err as Error).message;
      this.logger.error({ saga: this.name, err }, 'saga runner stopped');
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.sub?.close();
    await this.loop;
    // A clean stop writes the checkpoint moved past skipped events.
    if (this.state !== 'failed' && this.checkpoint > this.saved) await this.saveCheckpoint(this.checkpoint).catch(() => undefined);
    if (this.state !== 'failed') this.state = 'stopped';
  }

  private async run(): Promise<void> {
    this.sub = this.events.subscribeToAll({ after: this.checkpoint, payloadTypes: Object.keys(this.saga.handlers) });
    const deferred = new DeferredCheckpoint();
    for await (const batch of batches(this.sub, this.options)) {
      for (const event of batch) {
        if (this.stopped) return;
        await this.handle(event);
      }
      const last = batch[batch.length - 1].position;
      // A batch with nothing for this saga moves the checkpoint in memory only, for a while.
      if (deferred.defer(batch.some((e) => this.saga.handlers[e.type]), batch.length)) {
        this.checkpoint = last;
        continue;
      }
      await this.saveCheckpoint(last);
      deferred.written();
    }
  }

  private async saveCheckpoint(position: number): Promise<void> {
    await this.store.commit([
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
