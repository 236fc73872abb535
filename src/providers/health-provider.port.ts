import type { ProbeResult, TargetKind } from '../health/health.rules';

/** The outside systems that say whether a machine (BMC, agent) or a VM (its process, its control socket) is well, and try to heal it. */
export const HEALTH_PROVIDER = Symbol('HEALTH_PROVIDER');

export interface ProbeTarget {
  kind: TargetKind;
  id: string;
  /** A machine's labels, or a VM's tags as `key=value` pairs: the simulated provider reads its `sim.*` script from them. */
  labels: Record<string, string>;
}

/** Both calls honour `signal` (the probe timeout, the recovery timeout). */
export interface HealthProvider {
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult>;
  /** Tries to bring the target back (power-cycle a machine, restart a VM); rejects when it could not. */
  recover(target: ProbeTarget, signal: AbortSignal): Promise<void>;
}
