/**
 * Recent small query results of the embedded read store, each valid until the next commit that
 * could change it: a commit through this connection to the same collection, or any commit by
 * another connection (SQLite's `data_version`). A dashboard polling one page, or many clients
 * asking for the same machine, then cost one read and one parse per commit, not per request.
 *
 * Cached documents are frozen: a caller that tried to change one would change every later
 * answer, so it gets a TypeError instead.
 */
export class ResultCache {
  private readonly entries = new Map<string, { version: string; value: unknown }>();

  constructor(
    private readonly maxEntries = 64,
    /** Larger results (scans, exports, analytics) are not kept: they are rarely asked twice and cost memory. */
    readonly maxDocuments = 100,
  ) {}

  get<T>(key: string, version: string): T | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.version !== version) {
      this.entries.delete(key);
      return undefined;
    }
    // Least recently used goes first: move the hit to the end.
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit.value as T;
  }

  set<T>(key: string, version: string, value: T): T {
    this.entries.set(key, { version, value: deepFreeze(value) });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    return value;
  }

  clear(): void {
    this.entries.clear();
  }

  /** A key naming a query exactly, or null when a filter holds something JSON cannot tell apart (a function). */
  static key(...parts: unknown[]): string | null {
    try {
      return JSON.stringify(parts, function (this: Record<string, unknown>, k: string, v: unknown) {
        const raw = this[k];
        if (raw instanceof RegExp) return { $regex: raw.source, $flags: raw.flags };
        if (raw instanceof Date) return { $date: raw.toISOString() };
        if (raw === undefined) return { $undefined: true };
        if (typeof raw === 'function' || typeof raw === 'symbol' || typeof raw === 'bigint') throw new Uncacheable();
        return v;
      });
    } catch (err) {
      if (err instanceof Uncacheable) return null;
      throw err;
    }
  }
}

class Uncacheable extends Error {}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
