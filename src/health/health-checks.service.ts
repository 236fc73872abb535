import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { Subscription } from 'rxjs';
import { AppConfig } from '../config/config';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { CommandContext, CommandPipeline } from '../messaging/command-pipeline';
import { FailedPreconditionError, NotFoundError } from '../messaging/domain-errors';
import { Executor, ExecutorHost } from '../messaging/executors';
import { ProjectionsService } from '../messaging/projections.service';
import { Metrics } from '../metrics/metrics';
import { HEALTH_PROVIDER, HealthProvider, ProbeTarget } from '../providers/health-provider.port';
import { Clock } from './clock';
import { HealthMonitor, KnownTarget } from './health-monitor';
import { TargetRef } from './health.rules';
import { RecoveryRunner } from './recovery-runner';

export const HEALTH_CLOCK = Symbol('HEALTH_CLOCK');

/** A VM's tags as the provider reads them: `key=value` pairs, and bare tags with an empty value. */
const tagLabels = (tags: string[]): Record<string, string> =>
  Object.fromEntries(tags.map((t) => (t.includes('=') ? [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)] : [t, ''])));

/**
 * Wires the health core into the app: targets from the read models, commands through the
 * pipeline, the loop on the configured interval. Each part can be switched off by config
 * (`[health] enabled`, `[recovery] enabled`); the rest of the app does not depend on them.
 */
@Injectable()
export class HealthChecksService implements Executor {
  readonly monitor: HealthMonitor | null;
  readonly recoveries: RecoveryRunner | null;
  /** Aborted while this instance does not hold the executors' lease. */
  private halt = new AbortController();
  private subscription: Subscription | null = null;

  constructor(
    pipeline: CommandPipeline,
    private readonly projections: ProjectionsService,
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(HEALTH_PROVIDER) provider: HealthProvider,
    private readonly config: AppConfig,
    metrics: Metrics,
    private readonly logger: PinoLogger,
    @Inject(HEALTH_CLOCK) private readonly clock: Clock,
    host: ExecutorHost,
  ) {
    this.logger.setContext('health');
    const log = { info: (o: object, m: string) => logger.info(o, m), warn: (o: object, m: string) => logger.warn(o, m), error: (o: object, m: string) => logger.error(o, m) };
    const r = config.recovery;
    const h = config.health;
    this.recoveries = r.enabled
      ? new RecoveryRunner({
          pipeline,
          provider,
          clock,
          metrics,
          log,
          options: { maxRetries: r.max_retries, retryIntervalMs: r.retry_interval_ms, backoffFactor: r.backoff_factor, maxRetryIntervalMs: r.max_retry_interval_ms, recoveryTimeoutMs: r.recovery_timeout_ms, maxConcurrent: r.max_concurrent },
          isPaused: () => this.monitor?.isPaused() ?? false,
          isHealthy: (t) => this.monitor?.isHealthy(t) ?? false,
          describe: (t) => this.describe(t),
        })
      : null;
    this.monitor = h.enabled
      ? new HealthMonitor({
          pipeline,
          provider,
          clock,
          metrics,
          log,
          thresholds: { failureThreshold: h.failure_threshold, recoveryThreshold: h.recovery_threshold, orphanAfterFailures: h.orphan_after_failures },
          storm: { unhealthyShare: r.storm_unhealthy_share, minUnhealthy: r.storm_min_unhealthy },
          probeTimeoutMs: h.probe_timeout_ms,
          maxConcurrentProbes: h.max_concurrent_probes,
          recoveries: this.recoveries,
          targets: () => this.targets(),
        })
      : null;
    // Nothing is driven until this instance holds the executors' lease: a recovery asked for here
    // meanwhile is recorded, and the holder picks it up.
    this.halt.abort();
    this.recoveries?.close();
    host.register(this);
    if (!this.monitor && !this.recoveries) this.logger.info({}, 'health checks and recovery are switched off');
  }

  async start(): Promise<void> {
    if (!this.monitor && !this.recoveries) return;
    this.halt = new AbortController();
    this.recoveries?.reopen();
    // Recoveries asked for through another instance (an operator's), recorded there, driven here.
    this.subscription = this.projections.committedBy('recoveries').subscribe((c) => {
      for (const e of c.events) {
        if (e.type === 'RecoveryRequested') this.recoveries?.resume([{ kind: e.data.kind as TargetRef['kind'], id: String(e.data.targetId) }]);
      }
    });
    void this.run().catch((err) => this.logger.error({ err }, 'health checks stopped on an unexpected error'));
  }

  async stop(): Promise<void> {
    this.halt.abort();
    this.subscription?.unsubscribe();
    this.subscription = null;
    this.recoveries?.close();
  }

  private async run(): Promise<void> {
    await this.projections.caughtUp(['machines', 'vms', 'recoveries'], await this.events.headPosition());
    if (this.recoveries) {
      const open = await this.projections.find('recoveries', { status: 'IN_PROGRESS' });
      if (open.length) this.logger.info({ recoveries: open.length }, 'resuming open recoveries');
      this.recoveries.resume(open.map((d) => ({ kind: d.kind as TargetRef['kind'], id: String(d.targetId) })));
    }
    const halted = this.halt.signal;
    while (this.monitor && !halted.aborted) {
      try {
        await this.monitor.round();
      } catch (err) {
        this.logger.error({ err }, 'health round failed; trying again next interval');
      }
      try {
        await this.clock.sleep(this.config.health.interval_ms, halted);
      } catch {
        return;
      }
    }
  }

  /** Read a page at a time: a round over 100,000 machines holds their targets, not their documents. */
  private async targets(): Promise<KnownTarget[]> {
    const targets: KnownTarget[] = [];
    for await (const page of this.projections.scan('machines', {})) {
      for (const m of page) {
        targets.push({
          kind: 'machine',
          id: String(m.id),
          labels: (m.labels as Record<string, string>) ?? {},
          healthy: (m.conditions as Record<string, { status: boolean }> | undefined)?.REACHABLE?.status !== false,
          orphaned: false,
        });
      }
    }
    for await (const page of this.projections.scan('vms', {})) {
      for (const v of page) targets.push({ kind: 'vm', id: String(v.vmid), labels: tagLabels(v.tags as string[]), healthy: v.healthy !== false, orphaned: Boolean(v.orphaned) });
    }
    return targets;
  }

  private async describe(t: TargetRef): Promise<ProbeTarget | null> {
    if (t.kind === 'machine') {
      const m = await this.projections.findOne('machines', { _id: t.id });
      return m ? { kind: 'machine', id: t.id, labels: (m.labels as Record<string, string>) ?? {} } : null;
    }
    const v = await this.projections.findOne('vms', { _id: t.id });
    return v ? { kind: 'vm', id: t.id, labels: tagLabels(v.tags as string[]) } : null;
  }

  /** An operator's recovery: recorded and run even while storm control pauses automatic ones. */
  async trigger(target: TargetRef, reason: string, context: CommandContext): Promise<string> {
    if (!this.recoveries) throw new FailedPreconditionError('recovery is switched off in this site ([recovery] enabled = false)');
    if (!(await this.describe(target))) throw new NotFoundError(`${target.kind} ${target.id} not found`, { target: `${target.kind}-${target.id}` });
    return this.recoveries.request(target, reason, { manual: true, cause: context.requestId ?? null, context });
  }
}
