import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Change, ConcurrentCommitError, Doc, ReadStore } from '../read-store/read-store.port';

/** Who runs which projection, saga or executor: one document per runner, in the read store. */
export const LEASES_COLLECTION = 'runner_leases';

export interface Holder {
  /** Unique per process start: a restarted process is a new holder. */
  id: string;
  host: string;
  pid: number;
}

export function thisProcess(): Holder {
  return { id: `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`, host: hostname(), pid: process.pid };
}

/** A lease held: its fencing token goes up by one at every change of holder. */
export interface Lease {
  name: string;
  token: number;
}

interface LeaseDoc extends Doc {
  _id: string;
  holder: string | null;
  host: string | null;
  pid: number | null;
  token: number;
  expiresAt: number;
}

/**
 * Leases on read-store documents, taken and renewed by compare-and-set on the fencing token.
 * A lease is free when nobody holds it, when it has expired, or when its holder was a process on
 * this host that no longer exists (a crashed instance's leases are taken at once, not after the
 * expiry). Every write a runner makes carries `fence(lease)`, so a holder that lost its lease
 * (paused past the expiry, then resumed) has its late writes refused whole.
 */
export class Leases {
  constructor(
    private readonly store: ReadStore,
    readonly holder: Holder,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes the lease if it is free or already ours; null when another live holder has it. */
  async acquire(name: string): Promise<Lease | null> {
    let doc = (await this.store.findOne(LEASES_COLLECTION, { _id: name })) as LeaseDoc | null;
    if (!doc) {
      const free = { holder: null, host: null, pid: null, token: 0, expiresAt: 0 };
      await this.store.commit([{ op: 'updateOne', collection: LEASES_COLLECTION, filter: { _id: name }, update: { $setOnInsert: free }, upsert: true }]);
      doc = (await this.store.findOne(LEASES_COLLECTION, { _id: name })) as LeaseDoc;
    }
    if (doc.holder !== null && doc.holder !== this.holder.id && doc.expiresAt > this.now() && this.alive(doc)) return null;
    const token = doc.token + 1;
    try {
      await this.store.commit([
        {
          op: 'updateOne',
          collection: LEASES_COLLECTION,
          filter: { _id: name, token: doc.token },
          update: { $set: { holder: this.holder.id, host: this.holder.host, pid: this.holder.pid, token, expiresAt: this.now() + this.ttlMs } },
          mustMatch: true,
        },
      ]);
    } catch (err) {
      if (err instanceof ConcurrentCommitError) return null; // another instance took it first
      throw err;
    }
    return { name, token };
  }

  /** Extends the lease; false when it is no longer ours (taken over after it expired). */
  async renew(lease: Lease): Promise<boolean> {
    try {
      await this.store.commit([
        { op: 'updateOne', collection: LEASES_COLLECTION, filter: { _id: lease.name, token: lease.token, holder: this.holder.id }, update: { $set: { expiresAt: this.now() + this.ttlMs } }, mustMatch: true },
      ]);
      return true;
    } catch (err) {
      if (err instanceof ConcurrentCommitError) return false;
      throw err;
    }
  }

  /** Gives the lease up (on a clean stop), so another instance takes over at once. */
  async release(lease: Lease): Promise<void> {
    await this.store
      .commit([{ op: 'updateOne', collection: LEASES_COLLECTION, filter: { _id: lease.name, token: lease.token }, update: { $set: { holder: null, host: null, pid: null, expiresAt: 0 } } }])
      .catch(() => undefined);
  }

  /** The change to commit with a runner's writes: the batch applies only while the token is still ours. */
  fence(lease: Lease): Change {
    return { op: 'expect', collection: LEASES_COLLECTION, filter: { _id: lease.name, token: lease.token } };
  }

  /** A refused write that was refused because of the fence, not because of the runner's own compare-and-set. */
  static lost(err: unknown): boolean {
    return err instanceof ConcurrentCommitError && err.collection === LEASES_COLLECTION;
  }

  /** A holder on another host, or in this very process, is taken to be alive until its lease expires. */
  private alive(doc: LeaseDoc): boolean {
    if (doc.host !== this.holder.host || doc.pid === null || doc.pid === this.holder.pid) return true;
    try {
      process.kill(doc.pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'ESRCH';
    }
  }
}

export interface LeaseCallbacks {
  /** This instance now holds the lease: start the work, from the committed checkpoint. */
  acquired(): Promise<void>;
  /** The lease was lost (another instance took it over): stop the work, write nothing more. */
  lost(): Promise<void>;
  /** After every round, held or not: look at the shared state for requests made elsewhere. */
  tick?(): Promise<void>;
}

/**
 * One runner's lease: tries to take it at start and then every third of its time to live,
 * renews it while held, and tells the runner when it gains or loses it.
 */
export class RunnerLease {
  private lease: Lease | null = null;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly leases: Leases,
    readonly name: string,
    private readonly onError: (err: unknown) => void,
  ) {}

  get held(): boolean {
    return this.lease !== null;
  }

  /** The fence for a write. Without the lease there is nothing to write with: refused like a fence that failed. */
  fence(): Change {
    if (!this.lease) throw new ConcurrentCommitError(LEASES_COLLECTION, { _id: this.name });
    return this.leases.fence(this.lease);
  }

  /** The runner found its fence refused: the lease is gone; the next round tries to take it again. */
  dropped(): void {
    this.lease = null;
  }

  /** First attempt now (so a lone instance starts its work at once), then the renewal loop. */
  async start(callbacks: LeaseCallbacks): Promise<void> {
    await this.round(callbacks);
    const every = Math.max(Math.floor(this.leases.ttlMs / 3), 10);
    this.loop = (async () => {
      while (!this.abort.signal.aborted) {
        try {
          await sleep(every, undefined, { signal: this.abort.signal, ref: false });
        } catch {
          return;
        }
        await this.round(callbacks).catch(this.onError);
      }
    })();
  }

  private async round(callbacks: LeaseCallbacks): Promise<void> {
    if (this.lease && !(await this.leases.renew(this.lease))) {
      this.lease = null;
      await callbacks.lost();
    } else if (!this.lease) {
      const lease = await this.leases.acquire(this.name);
      if (lease) {
        this.lease = lease;
        await callbacks.acquired();
      }
    }
    await callbacks.tick?.();
  }

  /** Stops renewing and taking: the runner then stops its work and writes what it has to, under the lease still held. */
  async halt(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** Gives the lease up after a clean stop, so another instance takes over at once. */
  async release(): Promise<void> {
    if (this.lease) await this.leases.release(this.lease);
    this.lease = null;
  }
}
