import { fastUpdate } from '../../src/read-store/sqlite/fast-update';

// mingo's own operators: what the fast path must agree with wherever it accepts a case.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const MINGO = require('mingo/operators/update') as Record<string, (expr: unknown, arrayFilters?: unknown[]) => (doc: object) => unknown>;

const base = () => ({ _id: 'm1', phase: 'READY', n: 2, labels: { rack: 'r1' }, conditions: { REACHABLE: { status: true } }, tags: ['a'], gone: null as unknown });

const cases: Array<[string, unknown]> = [
  ['$set', { phase: 'MAINTENANCE' }],
  ['$set', { phase: 'MAINTENANCE', n: 3 }],
  ['$set', { 'labels.rack': 'r2', 'labels.zone': 'z1' }],
  ['$set', { 'conditions.HEALTHY': { status: false, reason: 'probe' } }],
  ['$set', { 'fresh.deep.path': 1 }],
  ['$set', { labels: { only: 'this' } }],
  ['$set', { tags: ['b', 'c'] }],
  ['$set', { 'tags.0': 'z' }],
  ['$set', { 'tags.x': 'z' }],
  ['$set', { 'gone.x': 1 }],
  ['$set', { 'phase.x': 1 }],
  ['$set', { labels: 1, 'labels.rack': 2 }],
  ['$unset', { phase: '' }],
  ['$unset', { 'labels.rack': '', 'missing.path': '' }],
  ['$unset', { 'tags.0': '' }],
  ['$inc', { n: 5 }],
  ['$inc', { fresh: 1, 'labels.count': 2 }],
  ['$inc', { phase: 1 }],
  ['$push', { tags: 'b' }],
  ['$set', { 'tags.$[]': 'all' }],
];

describe('fast update path', () => {
  it.each(cases)('%s %j: applied as mingo would, or declined with the document unchanged', (op, expr) => {
    const viaMingo = base();
    let mingoError: unknown = null;
    try {
      MINGO[op](structuredClone(expr), [])(viaMingo);
    } catch (err) {
      mingoError = err;
    }
    const fast = base();
    const accepted = fastUpdate(fast, op, structuredClone(expr));
    if (accepted) {
      expect(mingoError).toBeNull();
      expect(fast).toEqual(viaMingo);
    } else {
      expect(fast).toEqual(base());
    }
  });

  it('takes the common cases itself', () => {
    const accepted = cases.filter(([op, expr]) => fastUpdate(base(), op, structuredClone(expr))).length;
    expect(accepted).toBeGreaterThanOrEqual(10);
  });

  it.each([
    ['$set', { '__proto__.polluted': 1 }],
    ['$set', { 'labels.__proto__.polluted': 1 }],
    ['$set', { 'labels.constructor.prototype.polluted': 1 }],
    ['$set', { 'labels.prototype': 1 }],
    ['$set', { constructor: 1 }],
    ['$inc', { 'labels.__proto__.polluted': 1 }],
    ['$unset', { '__proto__.hasOwnProperty': '' }],
    ['$unset', { 'labels.constructor': '' }],
  ] as Array<[string, Record<string, unknown>]>)('%s %j: a path through __proto__, constructor or prototype is declined, and no prototype changes', (op, expr) => {
    const doc = base();
    const original = Object.getOwnPropertyDescriptor(Object.prototype, 'hasOwnProperty')!;
    const hasOwnProperty = original.value as unknown;
    try {
      expect(fastUpdate(doc, op, expr)).toBe(false);
      expect(doc).toEqual(base());
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype.hasOwnProperty).toBe(hasOwnProperty);
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
      Object.defineProperty(Object.prototype, 'hasOwnProperty', original);
    }
  });

  it('a value set is a copy: changing the document later leaves the update expression alone', () => {
    const labels = { rack: 'r9' };
    const doc = base();
    expect(fastUpdate(doc, '$set', { labels })).toBe(true);
    expect(fastUpdate(doc, '$set', { 'labels.rack': 'changed' })).toBe(true);
    expect(labels).toEqual({ rack: 'r9' });
  });
});
