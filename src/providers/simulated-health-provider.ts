import { setTimeout as sleep } from 'node:timers/promises';
import type { ProbeResult } from '../health/health.rules';
import { HealthProvider, ProbeTarget } from './health-provider.port';

const FAILURES: Record<string, ProbeResult> = {
  fail: { ok: false, kind: 'UNHEALTHY', reason: 'agent reports unhealthy' },
  unhealthy: { ok: false, kind: 'UNHEALTHY', reason: 'guest agent reports unhealthy' },
  'process-gone': { ok: false, kind: 'PROCESS_GONE', reason: 'no VM process on the node' },
  'socket-failed': { ok: false, kind: 'SOCKET_FAILED', reason: 'control socket refused the connection' },
};

/**
 * The default health provider: scripted per target through labels (machines) or tags (VMs):
 *   sim.health=fail|unhealthy|process-gone|socket-failed|hang   what probes find
 *   sim.recover=fail                                           every recovery attempt fails
 *   sim.recover-ms=N                                           a recovery attempt takes N ms
 * A successful recovery heals the target until its script changes.
 */
export class SimulatedHealthProvider implements HealthProvider {
  private readonly healed = new Map<string, string>();

  async probe(t: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    const script = t.labels['sim.health'];
    if (script === undefined || this.healed.get(`${t.kind}-${t.id}`) === script) return { ok: true };
    if (script === 'hang') {
      await sleep(2 ** 31 - 1, undefined, { signal });
    }
    return FAILURES[script] ?? { ok: false, kind: 'UNHEALTHY', reason: `probe failed (${script})` };
  }

  async recover(t: ProbeTarget, signal: AbortSignal): Promise<void> {
    const ms = Number(t.labels['sim.recover-ms'] ?? 0);
    if (ms > 0) await sleep(ms, undefined, { signal });
    if (t.labels['sim.recover'] === 'fail') throw new Error(`simulated recovery of ${t.kind} ${t.id} failed`);
    this.healed.set(`${t.kind}-${t.id}`, t.labels['sim.health'] ?? '');
  }
}
