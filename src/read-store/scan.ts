import { setImmediate as nextTurn } from 'node:timers/promises';
import { Doc, Filter, ReadStore } from './read-store.port';

/**
 * Every document a filter matches, in `_id` order, a page at a time: a whole fleet without
 * holding all of it at once. Each page starts after the last `_id` of the one before.
 *
 * Between pages the scan gives the event loop a turn: a store that answers from memory or a
 * synchronous driver (the embedded one) would otherwise run a whole-fleet scan (a health round
 * over 100,000 machines) as one chain of promise callbacks, with no request answered until it ends.
 */
export async function* pagesOf(store: Pick<ReadStore, 'find'>, collection: string, filter: Filter, pageSize = 1000): AsyncGenerator<Doc[]> {
  let after: string | null = null;
  for (;;) {
    const next: Filter = after === null ? filter : '_id' in filter ? { $and: [filter, { _id: { $gt: after } }] } : { ...filter, _id: { $gt: after } };
    const page = await store.find(collection, next, { sort: { _id: 1 }, limit: pageSize });
    if (page.length > 0) yield page;
    if (page.length < pageSize) return;
    after = page[page.length - 1]._id;
    await nextTurn();
  }
}
