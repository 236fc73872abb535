import { randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import { vmDecider, vmStream } from '../drains/vm.decider';
import { machineDecider, machineStream } from '../machines/machine.decider';
import { CommandContext, CommandPipeline } from '../messaging/command-pipeline';
import { Decider } from '../messaging/decider';
import type { Metrics } from '../metrics/metrics';
import type { HealthProvider, ProbeTarget } from '../providers/health-provider.port';
import { withTimeout, type Clock } from './clock';
import { Backoff, delayBefore, TargetRef, targetKey } from './health.rules';
import { RecoveryCommand, recoveryDecider, recoveryStream } from './recovery.decider';

const RECOVERY_NAMESPACE = '5b7e1c2d-9a4f-4e3b-8c6d-1f2e3a4b5c6d';

export interface RecoveryOptions extends Backoff {
  maxRetries: number;
  recoveryTimeoutMs: number;
  maxConcurrent: number;
}

export interface CoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RecoveryDeps {
  pipeline: CommandPipeline;
  provider: HealthProvider;
  clock: Clock;
  metrics: Metrics;
  log: CoreLogger;
  options: RecoveryOptions;
  /** Storm control: automatic recoveries wait while this says so; manual ones do not. */
  isPaused(): boolean;
  /** Whether the target is healthy again by itself (then its recovery ends without more attempts). */
  isHealthy(t: TargetRef): boolean;
  /** What the provider needs to know about the target now (labels), or null when it is gone. */
  describe(t: TargetRef): Promise<ProbeTarget | null>;
}

/**
 * Runs recoveries as a process over the log: each target's recovery stream records the
 * request, every attempt's start and outcome, and the escalation; everything here is derived
 * from it, so after a restart each open recovery continues where its stream left it. Attempts
 * wait with exponential backoff, each bounded by the recovery timeout, at most `maxConcurrent`
 * running at once across the fleet.
 */
export class RecoveryRunner {
  private readonly loops = new Map<string, Promise<void>>();
  private readonly waiting: Array<() => void> = [];
  private stop = new AbortController();
  private running = 0;
  /** The most attempts seen running at once (tests and the bench read it). */
  peakConcurrent = 0;

  constructor(private readonly deps: RecoveryDeps) {}

  /**
   * Records a recovery request for the target and drives it (when open: closed, it only records,
   * and the instance holding the executors' lease picks it up). Derived from `cause` (the event
   * that found the target unwell) the request is recorded once however often it is made.
   * Returns the id of the recovery now active for the target.
   */
  async request(target: TargetRef, reason: string, how: { manual: boolean; cause: string | null; context: Omit<CommandContext, 'requestId'> }): Promise<string> {
    const recoveryId = how.cause ? uuidv5(`${targetKey(target)}/${how.cause}`, RECOVERY_NAMESPACE) : randomUUID();
    const command: RecoveryCommand = { type: 'RequestRecovery', recoveryId, target, reason, manual: how.manual, maxRetries: this.deps.options.maxRetries, at: new Date(this.deps.clock.now()).toISOString() };
    await this.deps.pipeline.run(recoveryDecider, recoveryStream(target), command, { ...how.context, requestId: `request:${recoveryId}` });
    const { state } = await this.deps.pipeline.load(recoveryDecider, recoveryStream(target));
    this.drive(target);
    return state.active?.recoveryId ?? recoveryId;
  }

  /** Picks up recoveries recorded as open (after a restart). */
  resume(targets: readonly TargetRef[]): void {
    for (const t of targets) this.drive(t);
  }

  /** Stops driving: recoveries in flight end at their next step; requests are still recorded. */
  close(): void {
    this.stop.abort();
    for (const w of this.waiting.splice(0)) w();
  }

  /** Drives again after `close` (this instance holds the executors' lease again). */
  reopen(): void {
    if (this.stop.signal.aborted) this.stop = new AbortController();
  }

  /** Resolves when every recovery driven now has ended (tests). */
  async idle(): Promise<void> {
    while (this.loops.size) await Promise.allSettled([...this.loops.values()]);
  }

  private drive(target: TargetRef): void {
    const key = targetKey(target);
    if (this.loops.has(key) || this.stop.signal.aborted) return;
    const loop = this.loop(target)
      .catch((err) => {
        if (!this.stop.signal.aborted) this.deps.log.error({ err, target: key }, 'recovery stopped on an unexpected error; it resumes at the next start');
      })
      .finally(() => this.loops.delete(key));
    this.loops.set(key, loop);
  }

  private async acquire(): Promise<void> {
    while (this.running >= this.deps.options.maxConcurrent) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    this.peakConcurrent = Math.max(this.peakConcurrent, this.running);
    this.deps.metrics.recoveriesRunning.set(this.running);
  }

  private release(): void {
    this.running--;
    this.deps.metrics.recoveriesRunning.set(this.running);
    this.waiting.shift()?.();
  }

  private async loop(target: TargetRef): Promise<void> {
    const { pipeline, clock, provider, metrics, log, options } = this.deps;
    const stream = recoveryStream(target);
    const iso = () => new Date(clock.now()).toISOString();
    for (;;) {
      if (this.stop.signal.aborted) return;
      const { state } = await pipeline.load(recoveryDecider, stream);
      const a = state.active;
      if (!a) return;
      const context = (step: string): CommandContext => ({ actor: 'health:recovery', correlationId: a.recoveryId, causationId: null, requestId: `${a.recoveryId}:${step}`, issuedAt: iso() });
      const send = (c: RecoveryCommand, step: string) => this.send(recoveryDecider, stream, c, context(step));
      if (a.running) {
        // An attempt was running when the process stopped: its outcome is unknown, so it counts as failed.
        const next = a.attempts < a.maxRetries ? new Date(clock.now() + delayBefore(a.attempts + 1, options)).toISOString() : null;
        const r = await send({ type: 'RecordRecoveryAttempt', recoveryId: a.recoveryId, attempt: a.attempts, ok: false, error: 'interrupted by a restart', durationMs: 0, nextAttemptAt: next, at: iso() }, `${a.attempts}:outcome`);
        if (r?.events.some((e) => e.type === 'RecoveryEscalated')) await this.escalate(target, 'interrupted by a restart', a.attempts, context('escalate'));
        continue;
      }
      if (this.deps.isHealthy(target) && !a.manual) {
        await send({ type: 'EndRecovery', recoveryId: a.recoveryId, reason: 'healthy again before the next attempt', at: iso() }, 'end');
        log.info({ target: targetKey(target), recoveryId: a.recoveryId }, 'recovery not needed any more: the target is healthy again');
        continue;
      }
      if (!a.manual && this.deps.isPaused()) {
        await this.pause(1_000);
        continue;
      }
      const wait = a.nextAttemptAt ? Date.parse(a.nextAttemptAt) - clock.now() : 0;
      if (wait > 0) {
        try {
          await clock.sleep(wait, this.stop.signal);
        } catch {
          return;
        }
        continue; // the world may have changed while waiting
      }
      const attempt = a.attempts + 1;
      await this.acquire();
      try {
        if (this.stop.signal.aborted) return;
        if (!(await send({ type: 'StartRecoveryAttempt', recoveryId: a.recoveryId, attempt, at: iso() }, `${attempt}:start`))) continue;
        metrics.recoveryAttempts.inc({ kind: target.kind });
        log.info({ target: targetKey(target), recoveryId: a.recoveryId, attempt, of: a.maxRetries }, 'recovery attempt started');
        const started = clock.now();
        let error: string | null = null;
        try {
          const described = await this.deps.describe(target);
          if (!described) throw new Error(`${target.kind} ${target.id} no longer exists`);
          await this.bounded((signal) => provider.recover(described, signal), options.recoveryTimeoutMs);
        } catch (err) {
          error = (err as Error).message;
        }
        const durationMs = clock.now() - started;
        metrics.recoveryDuration.observe({ kind: target.kind }, durationMs / 1000);
        const next = error && attempt < a.maxRetries ? new Date(clock.now() + delayBefore(attempt + 1, options)).toISOString() : null;
        const r = await send({ type: 'RecordRecoveryAttempt', recoveryId: a.recoveryId, attempt, ok: error === null, error, durationMs, nextAttemptAt: next, at: iso() }, `${attempt}:outcome`);
        if (error === null) {
          metrics.recoverySuccesses.inc({ kind: target.kind });
          log.info({ target: targetKey(target), recoveryId: a.recoveryId, attempt, durationMs }, 'recovery succeeded');
        } else {
          metrics.recoveryFailures.inc({ kind: target.kind });
          log.warn({ target: targetKey(target), recoveryId: a.recoveryId, attempt, error, nextAttemptAt: next }, 'recovery attempt failed');
          if (r?.events.some((e) => e.type === 'RecoveryEscalated')) await this.escalate(target, error, attempt, context('escalate'));
        }
      } finally {
        this.release();
      }
    }
  }

  /** Runs `fn` with a signal that aborts after `ms` on this runner's clock, and rejects then. */
  private bounded(fn: (signal: AbortSignal) => Promise<void>, ms: number): Promise<void> {
    return withTimeout(this.deps.clock, ms, fn, () => {
      throw new Error(`timed out after ${ms} ms`);
    });
  }

  private async pause(ms: number): Promise<void> {
    try {
      await this.deps.clock.sleep(ms, this.stop.signal);
    } catch {
      /* stopping */
    }
  }

  /** After the last failed attempt: the target needs a person. */
  private async escalate(target: TargetRef, error: string, attempts: number, context: CommandContext): Promise<void> {
    const reason = `automatic recovery failed ${attempts} times; last: ${error}`;
    this.deps.metrics.recoveryEscalations.inc({ kind: target.kind });
    this.deps.log.error({ target: targetKey(target), attempts, error }, 'recovery escalated: the target needs intervention');
    if (target.kind === 'machine') {
      await this.send(machineDecider, machineStream(target.id), { type: 'RequireIntervention', id: target.id, reason, by: 'health:recovery', at: context.issuedAt }, context);
    } else {
      await this.send(vmDecider, vmStream(Number(target.id)), { type: 'RequireVmIntervention', vmid: Number(target.id), reason, at: context.issuedAt }, context);
    }
  }

  private send<C>(decider: Decider<C, any, any>, stream: string, command: C, context: CommandContext) {
    return this.deps.pipeline.runUnlessRefused(decider, stream, command, context);
  }
}
