import { Worker } from 'node:worker_threads';
import { Change, ConcurrentCommitError, Filter, IndexSpec } from '../read-store.port';
import { StoreDamagedError, type StoreDamageReason } from '../../storage/integrity';

/** What the read store asks of its writer thread. */
export type WriterRequest =
  | { op: 'commit'; changes: readonly Change[] }
  | { op: 'ensureIndexes'; collection: string; indexes: readonly IndexSpec[] }
  | { op: 'dropCollection'; collection: string }
  | { op: 'checkpoint' }
  | { op: 'ping' };

/** A refusal as it crosses the thread boundary: enough to rebuild the error the caller tests for. */
export interface WriterFailure {
  name: string;
  message: string;
  collection?: string;
  filter?: Filter;
  id?: string;
  damage?: { reason: StoreDamageReason; store: string; detail: string };
}

export type WriterReply = { id: number; ok: true } | { id: number; ok: false; failure: WriterFailure };

export class DuplicateKeyError extends Error {
  constructor(
    readonly collection: string,
    readonly id: string,
  ) {
    super(`duplicate key in ${collection}: ${id}`);
    this.name = 'DuplicateKeyError';
  }
}

/** The caller's error again: the typed refusals by name, anything else with its name and message. */
export function fromFailure(f: WriterFailure): Error {
  if (f.name === 'ConcurrentCommitError') return new ConcurrentCommitError(f.collection!, f.filter!);
  if (f.name === 'DuplicateKeyError') return new DuplicateKeyError(f.collection!, f.id!);
  if (f.damage) return new StoreDamagedError(f.damage.reason, f.damage.store, f.damage.detail);
  const err = new Error(f.message);
  err.name = f.name;
  return err;
}

export function toFailure(err: unknown): WriterFailure {
  if (err instanceof ConcurrentCommitError) return { name: err.name, message: err.message, collection: err.collection, filter: err.filter };
  if (err instanceof DuplicateKeyError) return { name: err.name, message: err.message, collection: err.collection, id: err.id };
  if (err instanceof StoreDamagedError) return { name: err.name, message: err.message, damage: { reason: err.reason, store: err.store, detail: err.detail } };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/**
 * The read store's writes, applied on a thread of their own with a connection of their own: a
 * projection batch (find each document, apply the update, serialise it, write it) costs the
 * event loop only the hand-over. Requests are applied one at a time, in the order sent, each in
 * its own transaction, and answered after its commit. The thread holds the process open only
 * while a request is in flight. A thread that dies is started again; the requests it had not
 * answered fail (each may or may not have committed: the runners' writes are compare-and-sets
 * and find out on their next try).
 */
export class WriterClient {
  private worker!: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  /** Set once the thread will not be started again: every later request fails with it. */
  private failure: Error | null = null;
  private closing = false;
  private exited: Promise<void> = Promise.resolve();
  private startedAt = 0;
  private quickExits = 0;
  /** The current thread has answered a request. */
  private answered = false;

  constructor(
    private readonly file: string,
    private readonly script: string,
  ) {
    this.spawn();
  }

  private spawn(): void {
    const worker = new Worker(this.script, { workerData: { file: this.file } });
    this.worker = worker;
    this.answered = false;
    this.startedAt = Date.now();
    // Nothing is in flight at a start (a stop fails what was): held open only by a request.
    worker.unref();
    worker.on('message', (reply: WriterReply) => {
      this.answered = true;
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.settled(reply.id);
      if (reply.ok) p.resolve();
      else p.reject(fromFailure(reply.failure));
    });
    let error: Error | null = null;
    worker.on('error', (err) => (error = err));
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        this.stopped(error ?? new Error(`the read store's writer thread exited (code ${code})`));
        resolve();
      }),
    );
  }

  private stopped(reason: Error): void {
    const unanswered = new Error(`the read store's writer thread stopped before confirming the write: ${reason.message}`);
    for (const [id, p] of [...this.pending]) {
      this.settled(id);
      p.reject(unanswered);
    }
    if (this.closing) return;
    // One that dies at once three times running (a missing script, a file it cannot open) is not started again.
    this.quickExits = Date.now() - this.startedAt < 1_000 ? this.quickExits + 1 : 0;
    if (this.quickExits >= 3) this.failure = reason;
    else this.spawn();
  }

  /**
   * The thread is up (it has answered since it was started) and has nothing in flight: a write
   * made elsewhere now overtakes none of its own.
   */
  get idle(): boolean {
    return this.answered && this.pending.size === 0 && !this.failure && !this.closing;
  }

  request(req: WriterRequest): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...req });
    });
  }

  private settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  /** Waits for the requests in flight, then ends the thread (its connection closes cleanly). */
  async close(): Promise<void> {
    this.closing = true;
    if (this.failure) return this.exited;
    this.worker.postMessage({ id: 0, op: 'close' });
    this.worker.ref();
    await this.exited;
  }
}
