import { Worker } from 'node:worker_threads';
import { Change, ConcurrentCommitError, Filter, IndexSpec } from '../read-store.port';

/** What the read store asks of its writer thread. */
export type WriterRequest =
  | { op: 'commit'; changes: readonly Change[] }
  | { op: 'ensureIndexes'; collection: string; indexes: readonly IndexSpec[] }
  | { op: 'dropCollection'; collection: string };

/** A refusal as it crosses the thread boundary: enough to rebuild the error the caller tests for. */
export interface WriterFailure {
  name: string;
  message: string;
  collection?: string;
  filter?: Filter;
  id?: string;
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
  const err = new Error(f.message);
  err.name = f.name;
  return err;
}

export function toFailure(err: unknown): WriterFailure {
  if (err instanceof ConcurrentCommitError) return { name: err.name, message: err.message, collection: err.collection, filter: err.filter };
  if (err instanceof DuplicateKeyError) return { name: err.name, message: err.message, collection: err.collection, id: err.id };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/**
 * The read store's writes, applied on a thread of their own with a connection of their own: a
 * projection batch (find each document, apply the update, serialise it, write it) costs the
 * event loop only the hand-over. Requests are applied one at a time, in the order sent, each in
 * its own transaction, and answered after its commit. The thread holds the process open only
 * while a request is in flight.
 */
export class WriterClient {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private failure: Error | null = null;
  private readonly exited: Promise<void>;

  constructor(file: string, script: string) {
    this.worker = new Worker(script, { workerData: { file } });
    this.worker.unref();
    this.worker.on('message', (reply: WriterReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.settled(reply.id);
      if (reply.ok) p.resolve();
      else p.reject(fromFailure(reply.failure));
    });
    this.worker.on('error', (err) => this.fail(err));
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', (code) => {
        this.fail(new Error(`the read store's writer thread exited (code ${code})`));
        resolve();
      }),
    );
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

  /** The thread died: every request in flight fails (nothing of one that did not answer is assumed applied), and so does every later one. */
  private fail(err: Error): void {
    this.failure ??= err;
    for (const [id, p] of [...this.pending]) {
      this.settled(id);
      p.reject(this.failure);
    }
  }

  /** Waits for the requests in flight, then ends the thread (its connection closes cleanly). */
  async close(): Promise<void> {
    if (this.failure) return this.exited;
    this.worker.postMessage({ id: 0, op: 'close' });
    this.worker.ref();
    await this.exited;
  }
}
