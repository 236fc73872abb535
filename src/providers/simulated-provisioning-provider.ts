import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readPrivateFile, writePrivateFile } from '../storage/private-files';
import { DatabaseCredentials, ProvisioningProvider, ProvisioningRequest } from './provisioning-provider.port';

interface SimState {
  secret: string;
  /** instanceId -> databaseId: what has been allocated, kept across restarts like a real service would. */
  databases: Record<string, string>;
}

/**
 * The default provisioning provider: no database service and no deployer, behaviour scripted
 * per machine through labels, so tests drive it through the public API:
 *   sim.db-fail               allocating the database fails
 *   sim.deploy-fail-times=N   the first N deploy attempts fail (`all` for every one)
 *   sim.ready-ms=N            the deployment becomes ready N ms after it is deployed
 *   sim.never-ready           the deployment never becomes ready (the timeout decides)
 *   sim.step-ms=N             each call takes N ms (to catch a restart mid-provisioning)
 * Its allocations live in `$DATA_DIR/sim-provisioning.json`, so they survive a restart.
 */
export class SimulatedProvisioningProvider implements ProvisioningProvider {
  private readonly file: string;
  private loaded: SimState | null = null;
  private readonly deployedAt = new Map<string, number>();
  /** Databases created (not returned again): a test can see that a retry did not allocate twice. */
  allocations = 0;

  constructor(private readonly dataDir: string) {
    this.file = join(dataDir, 'sim-provisioning.json');
  }

  /** Read on first use, so a bad data directory is reported by the event store that owns it, not here. */
  private get state(): SimState {
    if (!this.loaded) {
      mkdirSync(this.dataDir, { recursive: true });
      const saved = readPrivateFile(this.file);
      this.loaded = saved !== null ? (JSON.parse(saved) as SimState) : { secret: randomBytes(32).toString('hex'), databases: {} };
      this.save();
    }
    return this.loaded;
  }

  private save(): void {
    writePrivateFile(this.file, JSON.stringify(this.loaded), 'replace');
  }

  private async step(r: ProvisioningRequest, signal: AbortSignal): Promise<void> {
    const ms = Number(r.labels['sim.step-ms'] ?? 0);
    if (ms > 0) await sleep(ms, undefined, { signal });
  }

  async allocateDatabase(r: ProvisioningRequest, signal: AbortSignal): Promise<{ databaseId: string; created: boolean }> {
    await this.step(r, signal);
    if (r.labels['sim.db-fail'] !== undefined) throw new Error(`database service refused a ${r.dbType} database`);
    const existing = this.state.databases[r.instanceId];
    if (existing) return { databaseId: existing, created: false };
    const databaseId = `db-${r.dbType}-${createHash('sha256').update(r.instanceId).digest('hex').slice(0, 12)}`;
    this.state.databases[r.instanceId] = databaseId;
    this.save();
    this.allocations++;
    return { databaseId, created: true };
  }

  async deploy(r: ProvisioningRequest & { databaseId: string }, signal: AbortSignal): Promise<{ deploymentId: string }> {
    await this.step(r, signal);
    const failTimes = r.labels['sim.deploy-fail-times'];
    if (failTimes !== undefined && (failTimes === 'all' || r.attempt <= Number(failTimes))) throw new Error(`deployer could not start the instance on ${r.machineId} (attempt ${r.attempt})`);
    this.deployedAt.set(r.instanceId, Date.now());
    return { deploymentId: `dep-${r.instanceId.slice(0, 8)}-${r.attempt}` };
  }

  async isReady(r: ProvisioningRequest, signal: AbortSignal): Promise<boolean> {
    signal.throwIfAborted();
    if (r.labels['sim.never-ready'] !== undefined) return false;
    const at = this.deployedAt.get(r.instanceId);
    if (at === undefined) return false;
    return Date.now() - at >= Number(r.labels['sim.ready-ms'] ?? 0);
  }

  async removeDeployment(r: ProvisioningRequest): Promise<void> {
    this.deployedAt.delete(r.instanceId);
  }

  async credentials(databaseId: string): Promise<DatabaseCredentials> {
    const known = Object.values(this.state.databases).includes(databaseId);
    if (!known) throw new Error(`no database ${databaseId}`);
    return {
      databaseId,
      host: `${databaseId}.db.internal`,
      port: 5432,
      username: `u_${databaseId.slice(-8)}`,
      password: createHmac('sha256', this.state.secret).update(databaseId).digest('base64url'),
    };
  }
}
