import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { vmDecider, vmStream } from '../drains/vm.decider';
import { machineDecider, machineStream } from '../machines/machine.decider';
import { CommandContext, CommandPipeline } from '../messaging/command-pipeline';
import type { Metrics } from '../metrics/metrics';
import type { HealthProvider, ProbeTarget } from '../providers/health-provider.port';
import { withTimeout, type Clock } from './clock';
import { inStorm, observe, Observation, ProbeResult, StormPolicy, TargetRef, targetKey, Thresholds, Tracked } from './health.rules';
import { FLEET_HEALTH_STREAM, fleetHealthDecider } from './recovery.decider';
import type { CoreLogger, RecoveryRunner } from './recovery-runner';


/** Probes (and outcomes acted on) between turns given back to the event loop during a round. */
const YIELD_EVERY = 25;
/** Targets observed (thresholds applied, no I/O) between turns given back to the event loop. */
const OBSERVE_CHUNK = 2000;

/** A target as the read models know it: what to probe, and the health last recorded for it. */
export interface KnownTarget extends ProbeTarget {
  healthy: boolean;
  orphaned: boolean;
}

export interface MonitorDeps {
  pipeline: CommandPipeline;
  provider: HealthProvider;
  clock: Clock;
  metrics: Metrics;
  log: CoreLogger;
  thresholds: Thresholds;
  storm: StormPolicy;
  probeTimeoutMs: number;
  maxConcurrentProbes: number;
  /** Null when recovery is switched off. */
  recoveries: RecoveryRunner | null;
  targets(): Promise<KnownTarget[]>;
}

/**
 * Probes every machine and VM each round. Probes are metrics; only a change of health, an
 * orphan found, and storm control's pause and resume are events. Automatic recovery is asked
 * for when a machine turns unhealthy or a VM is found orphaned.
 */
export class HealthMonitor {
  private readonly tracked = new Map<string, Tracked>();
  private paused: boolean | null = null;

  constructor(private readonly deps: MonitorDeps) {}

  isPaused(): boolean {
    return this.paused === true;
  }

  isHealthy(t: TargetRef): boolean {
    return this.tracked.get(targetKey(t))?.healthy ?? true;
  }

  /** One round: probe all, apply the thresholds, decide storm control, then record and act. */
  async round(): Promise<void> {
    const { metrics, thresholds } = this.deps;
    if (this.paused === null) this.paused = (await this.deps.pipeline.load(fleetHealthDecider, FLEET_HEALTH_STREAM)).state.paused;
    const targets = await this.deps.targets();
    const results = await this.probeAll(targets);
    const observed: Array<{ target: KnownTarget; obs: Observation }> = [];
    const live = new Set<string>();
    for (const [i, target] of targets.entries()) {
      const key = targetKey(target);
      live.add(key);
      const before = this.tracked.get(key) ?? { healthy: target.healthy, orphaned: target.orphaned, failures: 0, successes: 0 };
      const obs = observe(before, target.kind, results[i], thresholds);
      this.tracked.set(key, obs.next);
      observed.push({ target, obs });
      // 100,000 targets in one turn hold the event loop for a tenth of a second.
      if (i % OBSERVE_CHUNK === OBSERVE_CHUNK - 1) await yieldToEventLoop();
    }
    for (const key of [...this.tracked.keys()]) if (!live.has(key)) this.tracked.delete(key);
    const unhealthy = observed.filter((o) => !o.obs.next.healthy);
    metrics.unhealthyTargets.set({ kind: 'machine' }, unhealthy.filter((o) => o.target.kind === 'machine').length);
    metrics.unhealthyTargets.set({ kind: 'vm' }, unhealthy.filter((o) => o.target.kind === 'vm').length);
    await this.stormControl(unhealthy.length, targets.length);
    for (const [i, { target, obs }] of observed.entries()) {
      await this.act(target, obs);
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
    }
  }

  private async probeAll(targets: KnownTarget[]): Promise<ProbeResult[]> {
    const results: ProbeResult[] = new Array(targets.length);
    let next = 0;
    let done = 0;
    const worker = async () => {
      for (let i = next++; i < targets.length; i = next++) {
        results[i] = await this.probe(targets[i]);
        // A provider that answers at once would otherwise run a whole fleet's round in one turn of
        // the event loop, holding back every request and subscription message meanwhile.
        if (++done % YIELD_EVERY === 0) await yieldToEventLoop();
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.deps.maxConcurrentProbes, targets.length) }, worker));
    return results;
  }

  /** One probe: no answer within `probeTimeoutMs` is a TIMEOUT, and its signal aborts so the provider can stop. */
  private async probe(t: KnownTarget): Promise<ProbeResult> {
    const { metrics, clock, probeTimeoutMs } = this.deps;
    const started = performance.now();
    let result: ProbeResult;
    try {
      result = await withTimeout(clock, probeTimeoutMs, (signal) => this.deps.provider.probe(t, signal), () => ({ ok: false, kind: 'TIMEOUT', reason: `no answer within ${probeTimeoutMs} ms` }));
    } catch (err) {
      result = { ok: false, kind: 'UNHEALTHY', reason: (err as Error).message };
    }
    metrics.probes.inc({ kind: t.kind, result: result.ok ? 'ok' : 'failed' });
    if (!result.ok) metrics.probeFailures.inc({ kind: t.kind, reason: result.kind });
    metrics.probeDuration.observe({ kind: t.kind }, (performance.now() - started) / 1000);
    return result;
  }

  private context(requestId: string | null): CommandContext {
    return { actor: 'health:monitor', correlationId: requestId ?? 'health', causationId: null, requestId, issuedAt: new Date(this.deps.clock.now()).toISOString() };
  }

  private async stormControl(unhealthy: number, total: number): Promise<void> {
    const storm = inStorm(unhealthy, total, this.deps.storm);
    if (storm === this.paused) return;
    const at = new Date(this.deps.clock.now()).toISOString();
    const command = storm ? ({ type: 'PauseAutoRecovery', unhealthy, total, at } as const) : ({ type: 'ResumeAutoRecovery', unhealthy, total, at } as const);
    await this.deps.pipeline.run(fleetHealthDecider, FLEET_HEALTH_STREAM, command, this.context(null));
    this.paused = storm;
    this.deps.metrics.autoRecoveryPaused.set(storm ? 1 : 0);
    if (storm) {
      this.deps.log.error({ alert: 'RecoveryStorm', unhealthy, total, share: this.deps.storm.unhealthyShare }, `ALERT: ${unhealthy} of ${total} targets unhealthy at once: automatic recovery paused`);
    } else {
      this.deps.log.warn({ unhealthy, total }, 'automatic recovery resumed');
    }
  }

  private async act(target: KnownTarget, obs: Observation): Promise<void> {
    const { log, metrics, recoveries } = this.deps;
    const key = targetKey(target);
    let cause: string | null = null;
    if (obs.transition) {
      const r = await this.record(target, obs.transition.healthy, obs.transition.reason);
      log[obs.transition.healthy ? 'info' : 'warn']({ target: key, healthy: obs.transition.healthy, reason: obs.transition.reason }, obs.transition.healthy ? 'target healthy again' : 'target unhealthy');
      if (!obs.transition.healthy && target.kind === 'machine') cause = r?.events[0]?.id ?? null;
    }
    if (obs.orphan && target.kind === 'vm') {
      const r = await this.deps.pipeline.runUnlessRefused(vmDecider, vmStream(Number(target.id)), { type: 'RecordVmOrphaned', vmid: Number(target.id), reason: obs.orphan.reason, detail: obs.orphan.detail, at: this.context(null).issuedAt }, this.context(null));
      metrics.orphans.inc({ reason: obs.orphan.reason });
      log.warn({ target: key, reason: obs.orphan.reason, detail: obs.orphan.detail }, 'orphaned VM detected');
      cause = r?.events[0]?.id ?? null;
    }
    if (cause && recoveries) {
      const reason = obs.orphan ? `orphaned: ${obs.orphan.reason} (${obs.orphan.detail})` : `unhealthy: ${obs.transition!.reason}`;
      await recoveries.request({ kind: target.kind, id: target.id }, reason, { manual: false, cause, context: { actor: 'health:monitor', correlationId: cause, causationId: cause, issuedAt: this.context(null).issuedAt } });
    }
  }

  private record(target: KnownTarget, healthy: boolean, reason: string) {
    const c = this.context(null);
    return target.kind === 'machine'
      ? this.deps.pipeline.runUnlessRefused(machineDecider, machineStream(target.id), { type: 'RecordHealth', id: target.id, healthy, reason, at: c.issuedAt }, c)
      : this.deps.pipeline.runUnlessRefused(vmDecider, vmStream(Number(target.id)), { type: 'RecordVmHealth', vmid: Number(target.id), healthy, reason, at: c.issuedAt }, c);
  }
}
