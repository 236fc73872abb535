import { PROTOTYPE_NAMES } from '../read-store.port';

/**
 * The common cases of `$set`, `$unset` and `$inc`, applied without mingo's update machinery:
 * paths through plain objects only. Anything else (an array on the way, a non-number to
 * increment, positional paths, a segment naming a prototype: `__proto__`, `constructor`,
 * `prototype`) is declined before anything changes, and mingo applies it (or refuses it, as it
 * refuses `__proto__`).
 * A test compares every case with mingo. Rebuilds spent a fifth of their time in that machinery
 * for updates as plain as `$set: { phase: 'READY' }`.
 */
type Plain = Record<string, unknown>;

/** A plain object (of any realm): not an array, a Date, a class instance. */
function isPlain(v: unknown): v is Plain {
  if (v === null || typeof v !== 'object' || Object.prototype.toString.call(v) !== '[object Object]') return false;
  const proto = Object.getPrototypeOf(v) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/** The object holding the last segment of `path`; undefined when the way to it does not exist. */
function holder(doc: Plain, parts: string[]): Plain | undefined {
  let cur: Plain = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = cur[parts[i]];
    if (!isPlain(next)) return undefined;
    cur = next;
  }
  return cur;
}

function validPath(path: string): boolean {
  return path.length > 0 && !path.startsWith('$') && !path.split('.').some((p) => p === '' || p.startsWith('$') || /^\d+$/.test(p) || PROTOTYPE_NAMES.has(p));
}

function copy(value: unknown): unknown {
  return value !== null && typeof value === 'object' ? structuredClone(value) : value;
}

/** Applies one operator if it is a simple case and returns true; returns false, having changed nothing, otherwise. */
export function fastUpdate(doc: Plain, op: string, expr: unknown): boolean {
  if (op !== '$set' && op !== '$unset' && op !== '$inc') return false;
  if (!isPlain(expr)) return false;
  const entries = Object.entries(expr);
  const paths = entries.map(([path]) => path);
  if (!paths.every(validPath)) return false;
  // Two paths where one is a prefix of the other conflict in MongoDB: mingo decides.
  for (const a of paths) for (const b of paths) if (a !== b && b.startsWith(`${a}.`)) return false;
  // Check every path first: all or nothing.
  for (const [path, value] of entries) {
    const parts = path.split('.');
    let cur: unknown = doc;
    for (let i = 0; i < parts.length - 1 && cur !== undefined; i++) {
      if (!isPlain(cur)) return false;
      cur = cur[parts[i]];
    }
    if (cur !== undefined && !isPlain(cur)) return false;
    const current = cur === undefined ? undefined : (cur as Plain)[parts[parts.length - 1]];
    if (op === '$inc' && (typeof value !== 'number' || (current !== undefined && typeof current !== 'number'))) return false;
    if (op === '$set' && value === undefined) return false;
  }
  for (const [path, value] of entries) {
    const parts = path.split('.');
    const last = parts[parts.length - 1];
    if (op === '$unset') {
      const h = holder(doc, parts);
      if (h) delete h[last];
      continue;
    }
    let cur: Plain = doc;
    for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Plain;
    if (op === '$set') cur[last] = copy(value);
    else cur[last] = ((cur[last] as number | undefined) ?? 0) + (value as number);
  }
  return true;
}
