import { Inject, Injectable } from '@nestjs/common';
import { bulkhead } from 'cockatiel';
import { PinoLogger } from 'nestjs-pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { Subscription } from 'rxjs';
import { AppConfig } from '../config/config';
import { EVENT_STORE, EventStore, RecordedEvent, StreamNotFoundError } from '../event-store/event-store.port';
import { MachineCommand, MachineEvent, machineDecider, MachineState, machineStream } from '../machines/machine.decider';
import { CommandContext, CommandPipeline } from '../messaging/command-pipeline';
import { Executor, ExecutorHost } from '../messaging/executors';
import { ProjectionsService } from '../messaging/projections.service';
import { MACHINE_PROVIDER, MachineProvider } from '../providers/machine-provider.port';

/**
 * Drives operations through their stages in the background. Everything it knows comes from
 * the machine's stream, so after a restart it resumes each unfinished operation from its
 * last recorded stage; every command it sends has a requestId derived from (operation,
 * stage, attempt), so running a step again after a crash appends nothing twice.
 */
@Injectable()
export class OperationExecutor implements Executor {
  private readonly running = new Map<string, AbortController>();
  private readonly pool;
  private subscription: Subscription | null = null;
  private stopped = true;

  constructor(
    private readonly pipeline: CommandPipeline,
    private readonly projections: ProjectionsService,
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(MACHINE_PROVIDER) private readonly provider: MachineProvider,
    private readonly config: AppConfig,
    private readonly logger: PinoLogger,
    host: ExecutorHost,
  ) {
    this.logger.setContext('operations');
    this.pool = bulkhead(config.operations.max_concurrent, Number.MAX_SAFE_INTEGER);
    host.register(this);
  }

  async start(): Promise<void> {
    this.stopped = false;
    const startHead = await this.events.headPosition();
    // New requests and cancels, as the operations read model commits them.
    this.subscription = this.projections.committedBy('operations').subscribe((c) => {
      for (const e of c.events) {
        if (e.position <= startHead) continue; // history is resumed below, once
        if (e.type === 'OperationRequested') this.schedule(String(e.data.id), String(e.data.operationId));
        if (e.type === 'OperationCanceled') this.running.get(String(e.data.operationId))?.abort();
      }
    });
    void this.resume(startHead).catch((err) => this.logger.error({ err }, 'resuming operations failed'));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.subscription?.unsubscribe();
    this.subscription = null;
    for (const c of this.running.values()) c.abort();
  }

  /** Unfinished operations recorded before this process started. */
  private async resume(head: number): Promise<void> {
    await this.projections.caughtUp(['operations'], head);
    const open = await this.projections.find('operations', { phase: { $in: ['PENDING', 'RUNNING'] } });
    if (open.length) this.logger.info({ operations: open.length }, 'resuming unfinished operations');
    for (const op of open) this.schedule(String(op.machineId), String(op.id));
  }

  private schedule(machineId: string, operationId: string): void {
    if (this.stopped || this.running.has(operationId)) return;
    const controller = new AbortController();
    this.running.set(operationId, controller);
    this.pool
      .execute(() => this.drive(machineId, operationId, controller.signal))
      .catch((err) => this.logger.error({ err, machineId, operationId }, 'operation driver stopped on an unexpected error'))
      .finally(() => this.running.delete(operationId));
  }

  private async history(machineId: string): Promise<RecordedEvent[]> {
    try {
      return await this.events.readStream(machineStream(machineId));
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
  }

  private async drive(machineId: string, operationId: string, signal: AbortSignal): Promise<void> {
    const ops = this.config.operations;
    for (;;) {
      if (signal.aborted || this.stopped) return;
      const history = await this.history(machineId);
      let state: MachineState = machineDecider.initialState;
      for (const e of history) state = machineDecider.evolve(state, { type: e.type, data: e.data } as MachineEvent);
      const active = state.active;
      if (!active || active.operationId !== operationId) return; // finished, canceled, or never ours
      const stage = active.stages.find((s) => !active.completed.includes(s));
      if (!stage) return;
      const requested = history.find((e) => e.type === 'OperationRequested' && e.data.operationId === operationId)!;
      const failures = history.filter((e) => e.type === 'OperationStageAttemptFailed' && e.data.operationId === operationId && e.data.stage === stage).length;
      const attempt = failures + 1;
      const last = history[history.length - 1];
      const context = (step: string): CommandContext => ({
        actor: `operations (for ${requested.metadata.actor})`,
        correlationId: requested.metadata.correlationId,
        causationId: last.id,
        requestId: `${operationId}:${stage}:${attempt}:${step}`,
        issuedAt: new Date().toISOString(),
      });
      // Canceled or finished meanwhile: a refusal means nothing more to do.
      const send = async (command: MachineCommand, step: string) => (await this.pipeline.runUnlessRefused(machineDecider, machineStream(machineId), command, context(step))) !== null;
      const at = () => new Date().toISOString();
      if (!(await send({ type: 'StartStage', id: machineId, operationId, stage, attempt, at: at() }, 'start'))) return;

      let result: { log: string[] } | null = null;
      let failure: { message: string; log: string[] } | null = null;
      try {
        const stageSignal = AbortSignal.any([signal, AbortSignal.timeout(ops.stage_timeout_ms)]);
        result = await this.provider.runStage(
          { machineId, operationId, operation: active.operation, stage, attempt, params: requestedParams(requested), labels: state.labels },
          stageSignal,
        );
      } catch (err) {
        if (signal.aborted) return; // canceled: the cancel itself is the record
        const timedOut = err instanceof Error && err.name === 'TimeoutError';
        failure = { message: timedOut ? `timed out after ${ops.stage_timeout_ms} ms` : (err as Error).message, log: (err as { log?: string[] }).log ?? [] };
      }
      if (result) {
        if (!(await send({ type: 'CompleteStage', id: machineId, operationId, stage, log: result.log, at: at() }, 'done'))) return;
        continue;
      }
      const willRetry = attempt < ops.max_attempts;
      const failed: MachineCommand = { type: 'FailStageAttempt', id: machineId, operationId, stage, attempt, error: failure!.message, log: failure!.log, willRetry, at: at() };
      if (!(await send(failed, 'failed')) || !willRetry) return;
      const backoff = Math.min(ops.retry_backoff_ms * ops.backoff_factor ** (attempt - 1), ops.max_backoff_ms);
      this.logger.info({ machineId, operationId, stage, attempt, backoffMs: backoff }, 'stage failed; retrying after backoff');
      try {
        await sleep(backoff, undefined, { signal });
      } catch {
        return;
      }
    }
  }
}

function requestedParams(e: RecordedEvent): Record<string, unknown> {
  return (e.data.params as Record<string, unknown>) ?? {};
}
