import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { openSubscriptions } from '../graphql/async-iterator';

export type ProbeKind = 'machine' | 'vm';

/**
 * Every metric Drydock exports, in one registry per app (`GET /metrics`, Prometheus text).
 * Names start with `drydock_`. Plain class: the health core and the pipeline record into it
 * without knowing about Nest.
 */
export class Metrics {
  readonly registry = new Registry();

  // Health checks and recovery.
  readonly probes = new Counter({ name: 'drydock_health_probes_total', help: 'Health probes run, by target kind and result', labelNames: ['kind', 'result'] as const, registers: [this.registry] });
  readonly probeFailures = new Counter({ name: 'drydock_health_probe_failures_total', help: 'Failed health probes, by target kind and reason', labelNames: ['kind', 'reason'] as const, registers: [this.registry] });
  readonly probeDuration = new Histogram({
    name: 'drydock_health_probe_duration_seconds',
    help: 'How long a health probe took',
    labelNames: ['kind'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly unhealthyTargets = new Gauge({ name: 'drydock_health_unhealthy_targets', help: 'Targets unhealthy now, by kind', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly orphans = new Counter({ name: 'drydock_orphans_detected_total', help: 'VMs detected as orphaned, by reason', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly recoveryAttempts = new Counter({ name: 'drydock_recovery_attempts_total', help: 'Recovery attempts started, by target kind', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly recoverySuccesses = new Counter({ name: 'drydock_recovery_successes_total', help: 'Recovery attempts that succeeded, by target kind', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly recoveryFailures = new Counter({ name: 'drydock_recovery_failures_total', help: 'Recovery attempts that failed, by target kind', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly recoveryEscalations = new Counter({ name: 'drydock_recovery_escalations_total', help: 'Targets escalated after the last recovery attempt failed', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly recoveryDuration = new Histogram({
    name: 'drydock_recovery_duration_seconds',
    help: 'How long a recovery attempt took',
    labelNames: ['kind'] as const,
    buckets: [0.01, 0.1, 0.5, 1, 5, 30, 120, 600],
    registers: [this.registry],
  });
  readonly recoveriesRunning = new Gauge({ name: 'drydock_recoveries_running', help: 'Recovery attempts running now', registers: [this.registry] });
  readonly autoRecoveryPaused = new Gauge({ name: 'drydock_auto_recovery_paused', help: '1 while automatic recovery is paused by storm control (an alert)', registers: [this.registry] });

  // The platform.
  readonly commands = new Counter({ name: 'drydock_commands_total', help: 'Commands handled, by type and outcome', labelNames: ['command', 'outcome'] as const, registers: [this.registry] });
  readonly appendDuration = new Histogram({
    name: 'drydock_event_append_duration_seconds',
    help: 'How long an append to the event store took (durable)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly subscriptions = new Gauge({
    name: 'drydock_graphql_subscriptions_active',
    help: 'GraphQL subscriptions open now',
    registers: [this.registry],
    collect() {
      this.set(openSubscriptions());
    },
  });
  readonly projectionLag = new Gauge({ name: 'drydock_projection_lag_positions', help: 'Log positions a projection is behind the head', labelNames: ['projection'] as const, registers: [this.registry] });
  readonly projectionLagSeconds = new Gauge({ name: 'drydock_projection_lag_seconds', help: 'Seconds a projection is behind the head', labelNames: ['projection'] as const, registers: [this.registry] });

  private lagSource: (() => Promise<Array<{ name: string; positions: number; seconds: number }>>) | null = null;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'drydock_' });
  }

  /** Where projection lag comes from: read at each scrape. */
  setLagSource(source: () => Promise<Array<{ name: string; positions: number; seconds: number }>>): void {
    this.lagSource = source;
  }

  async text(): Promise<string> {
    if (this.lagSource) {
      for (const l of await this.lagSource()) {
        this.projectionLag.set({ projection: l.name }, l.positions);
        this.projectionLagSeconds.set({ projection: l.name }, l.seconds);
      }
    }
    return this.registry.metrics();
  }
}
