/**
 * The rules of health checking and recovery, in one place: when a target turns unhealthy or
 * healthy again, when a VM is an orphan, how long to wait between recovery attempts, and
 * when the fleet is in a storm that pauses automatic recovery.
 */

export type TargetKind = 'machine' | 'vm';
export interface TargetRef {
  kind: TargetKind;
  id: string;
}
export const targetKey = (t: TargetRef) => `${t.kind}-${t.id}`;

/** What a probe found. `kind` says how a VM failed: its process is gone, its control socket fails, or it is just unhealthy. */
export type ProbeResult = { ok: true } | { ok: false; kind: FailureKind; reason: string };
export const FAILURE_KINDS = ['PROCESS_GONE', 'SOCKET_FAILED', 'UNHEALTHY', 'TIMEOUT'] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];
export const ORPHAN_REASONS = ['PROCESS_GONE', 'SOCKET_FAILED', 'STAYS_UNHEALTHY'] as const;
export type OrphanReason = (typeof ORPHAN_REASONS)[number];

export interface Thresholds {
  failureThreshold: number;
  recoveryThreshold: number;
  /** A VM failing this many probes in a row (whatever the kind) is an orphan. */
  orphanAfterFailures: number;
}

export interface Tracked {
  healthy: boolean;
  orphaned: boolean;
  failures: number;
  successes: number;
}

export interface Observation {
  next: Tracked;
  /** Only transitions are events: the probe itself is a metric. */
  transition: { healthy: boolean; reason: string } | null;
  orphan: { reason: OrphanReason; detail: string } | null;
}

/**
 * One probe result applied to a target: unhealthy after `failureThreshold` failures in a row,
 * healthy again after `recoveryThreshold` successes in a row. A VM whose process is gone or
 * whose control socket fails is an orphan once it is unhealthy; one that stays unhealthy
 * for `orphanAfterFailures` probes is an orphan too. An orphan is reported once per episode.
 */
export function observe(t: Tracked, kind: TargetKind, result: ProbeResult, th: Thresholds): Observation {
  if (result.ok) {
    const successes = t.successes + 1;
    const recovered = !t.healthy && successes >= th.recoveryThreshold;
    return {
      next: { healthy: t.healthy || recovered, orphaned: recovered ? false : t.orphaned, failures: 0, successes },
      transition: recovered ? { healthy: true, reason: `${successes} probes in a row succeeded` } : null,
      orphan: null,
    };
  }
  const failures = t.failures + 1;
  const turned = t.healthy && failures >= th.failureThreshold;
  const healthy = t.healthy && !turned;
  let orphan: Observation['orphan'] = null;
  if (kind === 'vm' && !t.orphaned && !healthy) {
    if (result.kind === 'PROCESS_GONE' || result.kind === 'SOCKET_FAILED') orphan = { reason: result.kind, detail: result.reason };
    else if (failures >= th.orphanAfterFailures) orphan = { reason: 'STAYS_UNHEALTHY', detail: `${failures} probes in a row failed; last: ${result.reason}` };
  }
  return {
    next: { healthy, orphaned: t.orphaned || orphan !== null, failures, successes: 0 },
    transition: turned ? { healthy: false, reason: `${failures} probes in a row failed; last: ${result.reason}` } : null,
    orphan,
  };
}

export interface Backoff {
  retryIntervalMs: number;
  backoffFactor: number;
  maxRetryIntervalMs: number;
}

/** The wait before attempt `n` (n >= 2): retryInterval, times backoffFactor for each attempt after the second, capped. */
export function delayBefore(attempt: number, b: Backoff): number {
  if (attempt <= 1) return 0;
  return Math.min(b.retryIntervalMs * b.backoffFactor ** (attempt - 2), b.maxRetryIntervalMs);
}

export interface StormPolicy {
  /** Pause when more than this share of the fleet is unhealthy at once... */
  unhealthyShare: number;
  /** ...and at least this many targets are: two of three is not a storm. */
  minUnhealthy: number;
}

/** Whether automatic recovery should be paused with this many of the fleet unhealthy. */
export function inStorm(unhealthy: number, total: number, p: StormPolicy): boolean {
  return total > 0 && unhealthy >= p.minUnhealthy && unhealthy / total > p.unhealthyShare;
}
