import { Observable } from 'rxjs';

let open = 0;
/** GraphQL subscriptions open in this process now (a metric). */
export const openSubscriptions = () => open;

/**
 * Adapts an rxjs stream to the AsyncIterator a GraphQL subscription resolver returns.
 * Values queue while the client is slow; returning (unsubscribe) releases the source.
 */
export function toAsyncIterator<T>(source: Observable<T>): AsyncIterableIterator<T> {
  const queue: T[] = [];
  const pullers: Array<(r: IteratorResult<T>) => void> = [];
  let done = false;
  let failure: unknown = null;
  open++;
  const subscription = source.subscribe({
    next: (v) => {
      const p = pullers.shift();
      if (p) p({ value: v, done: false });
      else queue.push(v);
    },
    error: (err) => {
      failure = err;
      finish();
    },
    complete: () => finish(),
  });
  function finish() {
    if (!done) open--;
    done = true;
    for (const p of pullers.splice(0)) p({ value: undefined as never, done: true });
  }
  const iterator: AsyncIterableIterator<T> = {
    next() {
      if (queue.length) return Promise.resolve({ value: queue.shift()!, done: false });
      if (failure) return Promise.reject(failure);
      if (done) return Promise.resolve({ value: undefined as never, done: true });
      return new Promise((resolve) => pullers.push(resolve));
    },
    return() {
      subscription.unsubscribe();
      queue.length = 0;
      finish();
      return Promise.resolve({ value: undefined as never, done: true });
    },
    throw(err) {
      subscription.unsubscribe();
      finish();
      return Promise.reject(err);
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/**
 * An async iterator a subscription resolver returns as it is, counted among the open
 * subscriptions until it ends or the client leaves. It is read at the pace the client takes its
 * messages (a generator runs no further than asked).
 */
export function counted<T>(source: AsyncIterator<T>): AsyncIterableIterator<T> {
  let done = false;
  open++;
  const finish = () => {
    if (!done) open--;
    done = true;
  };
  const settle = async (step: Promise<IteratorResult<T>>) => {
    try {
      const r = await step;
      if (r.done) finish();
      return r;
    } catch (err) {
      finish();
      throw err;
    }
  };
  const iterator: AsyncIterableIterator<T> = {
    next: () => settle(source.next()),
    return: (value?: unknown) => {
      finish();
      return source.return ? source.return(value as T) : Promise.resolve({ value: undefined as never, done: true });
    },
    throw: (err?: unknown) => {
      finish();
      return source.throw ? source.throw(err) : Promise.reject(err);
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
