import { setTimeout as sleep } from 'node:timers/promises';
import { MigrationProvider, MigrationRequest, VmRef } from './migration-provider.port';

const tagValue = (tags: readonly string[], key: string): string | undefined => tags.find((t) => t.startsWith(`${key}=`))?.slice(key.length + 1);

/**
 * The default migration provider: no cluster, configurable timings, and behaviour scripted
 * per VM through tags, so tests drive it through the public API:
 *   sim.migrate-ms=N           how long a migration of this VM takes (default: configured)
 *   sim.migrate-fail           every migration of this VM fails
 *   sim.stopped-after-migrate  the VM is found stopped after a migration (until started)
 * It also counts migrations in flight, so a benchmark can report the largest number it saw.
 */
export class SimulatedMigrationProvider implements MigrationProvider {
  private inFlight = 0;
  /** The most migrations seen running at once since the last reset. */
  peakInFlight = 0;
  migrations = 0;
  private readonly stopped = new Set<number>();

  constructor(private readonly delayMs: number) {}

  resetStats(): void {
    this.peakInFlight = this.inFlight;
    this.migrations = 0;
  }

  async migrate(r: MigrationRequest, signal: AbortSignal): Promise<{ log: string[] }> {
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      const delay = Number(tagValue(r.tags, 'sim.migrate-ms') ?? this.delayMs);
      if (delay > 0) await sleep(delay, undefined, { signal });
      else await Promise.resolve();
      signal.throwIfAborted();
      if (r.tags.includes('sim.migrate-fail')) throw new Error(`simulated ${r.migrationType.toLowerCase()} migration failure of VM ${r.vmid} to ${r.to}`);
      if (r.tags.includes('sim.stopped-after-migrate')) this.stopped.add(r.vmid);
      this.migrations++;
      return { log: [`VM ${r.vmid} (${r.name}) migrated ${r.migrationType.toLowerCase()} from ${r.from} to ${r.to}`] };
    } finally {
      this.inFlight--;
    }
  }

  async powerState(vm: VmRef): Promise<'running' | 'stopped'> {
    return this.stopped.has(vm.vmid) ? 'stopped' : 'running';
  }

  async start(vm: VmRef): Promise<void> {
    this.stopped.delete(vm.vmid);
  }
}
