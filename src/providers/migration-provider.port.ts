/** The outside system that moves VMs between hypervisor nodes (the cluster's migration API). */
export const MIGRATION_PROVIDER = Symbol('MIGRATION_PROVIDER');

export interface MigrationRequest {
  drainId: string;
  vmid: number;
  name: string;
  /** The VM's tags: the simulated provider reads its `sim.*` test script from them. */
  tags: readonly string[];
  from: string;
  to: string;
  migrationType: 'ONLINE' | 'OFFLINE';
}

export interface VmRef {
  vmid: number;
  node: string;
  tags: readonly string[];
}

/**
 * Migrations must be idempotent: after a crash the migration that was running is asked for
 * again, and a VM already on the target is a success. Every call honours `signal`.
 */
export interface MigrationProvider {
  migrate(request: MigrationRequest, signal: AbortSignal): Promise<{ log: string[] }>;
  /** The VM's power state as the node reports it now. */
  powerState(vm: VmRef, signal: AbortSignal): Promise<'running' | 'stopped'>;
  start(vm: VmRef, signal: AbortSignal): Promise<void>;
}
