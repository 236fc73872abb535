import type { IntegrityReport } from '../storage/integrity';

/**
 * The read store port, in the MongoDB dialect: filters, sorts and update operators mean
 * what they mean in MongoDB. Read models are disposable: the event log rebuilds them.
 */

export const READ_STORE = Symbol('READ_STORE');

/** Bookkeeping an adapter without transactions may keep on a document: the log position that last changed it. Not part of the read model. */
export const POSITION_FIELD = '_pos';

export type Doc = { _id: string } & Record<string, unknown>;

/**
 * Names that are a JavaScript object's machinery, never a document's field: as a key or a path
 * segment each leads to a prototype (`doc.a.__proto__` is Object.prototype itself). Client input
 * carrying one is refused at the edge, and no path walk of an adapter follows one.
 */
export const PROTOTYPE_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
export type Filter = Record<string, unknown>;
/** MongoDB update operators ($set, $unset, $inc, $push, $pull, $addToSet, $setOnInsert, ...). */
export type Update = Record<string, unknown>;
export type Sort = Record<string, 1 | -1>;

export interface FindOptions {
  sort?: Sort;
  limit?: number;
  skip?: number;
}

export interface IndexSpec {
  /** A dotted path to a scalar field (not a list); `_id` is always indexed. */
  field: string;
  unique?: boolean;
}

/** One change in a batch; applied in order, all or nothing. */
export type Change =
  /** With `mustMatch`, a filter matching no document fails the whole batch (ConcurrentCommitError): a compare-and-set. */
  | { op: 'updateOne'; collection: string; filter: Filter; update: Update; upsert?: boolean; mustMatch?: boolean }
  | { op: 'updateMany'; collection: string; filter: Filter; update: Update }
  | { op: 'replaceOne'; collection: string; filter: Filter; doc: Doc; upsert?: boolean }
  | { op: 'insertOne'; collection: string; doc: Doc }
  | { op: 'deleteOne'; collection: string; filter: Filter }
  | { op: 'deleteMany'; collection: string; filter: Filter }
  /**
   * A fence: the whole batch fails (ConcurrentCommitError) unless a document matches, and a batch
   * that changes that document cannot commit alongside. Changes nothing a reader relies on: where
   * writers are serialised (SQLite) it is only a read; where transactions run side by side
   * (MongoDB) the adapter writes a counter on the document so that they conflict.
   */
  | { op: 'expect'; collection: string; filter: Filter };

export interface ReadStore {
  readonly description: string;
  findOne(collection: string, filter: Filter): Promise<Doc | null>;
  find(collection: string, filter: Filter, options?: FindOptions): Promise<Doc[]>;
  count(collection: string, filter: Filter): Promise<number>;
  /**
   * Applies the changes in one transaction. `position` is the log position the batch
   * reaches; adapters without transactions use it to skip changes a document has already seen.
   */
  commit(changes: readonly Change[], position?: number): Promise<void>;
  ensureIndexes(collection: string, indexes: readonly IndexSpec[]): Promise<void>;
  dropCollection(collection: string): Promise<void>;
  listCollections(): Promise<string[]>;
  ping(): Promise<void>;
  /** The store's integrity, checked within `timeoutMs` (see `IntegrityReport`); never rejects for damage. */
  checkIntegrity(timeoutMs: number): Promise<IntegrityReport>;
  close(): Promise<void>;
}

/** A `mustMatch` change found nothing to match: someone else committed first. Nothing of the batch was applied. */
export class ConcurrentCommitError extends Error {
  constructor(readonly collection: string, readonly filter: Filter) {
    super(`concurrent commit: nothing in ${collection} matched ${JSON.stringify(filter)}`);
    this.name = 'ConcurrentCommitError';
  }
}

/** Convenience for single writes outside a projection batch. */
export function updateOne(store: ReadStore, collection: string, filter: Filter, update: Update, upsert = false) {
  return store.commit([{ op: 'updateOne', collection, filter, update, upsert }]);
}

/**
 * The document MongoDB would insert on an upsert: the filter's plain equality fields,
 * then `$setOnInsert`. The caller applies the remaining update operators to it.
 */
export function upsertSeed(filter: Filter, update: Update): Doc {
  const seed: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(filter)) {
    if (k.startsWith('$')) continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const ops = Object.keys(v);
      if (ops.length === 1 && ops[0] === '$eq') setPath(seed, k, (v as Record<string, unknown>).$eq);
      continue;
    }
    setPath(seed, k, v);
  }
  const onInsert = update.$setOnInsert as Record<string, unknown> | undefined;
  if (onInsert) for (const [k, v] of Object.entries(onInsert)) setPath(seed, k, v);
  return seed as Doc;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
  cur[parts[parts.length - 1]] = structuredClone(value);
}
