type Taker<T> = { resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void };

/**
 * A subscription's results between the source and a socket: pulled as fast as they come, handed
 * on as fast as the socket takes them, with at most `limit` waiting between the two. When a
 * consumer falls further behind, the source is released and `onOverflow` runs (the server then
 * closes the socket), so memory stays bounded whatever a client does. `onEnd` runs once, when
 * the consumer will get nothing more (the source ended and was drained, it returned, or it overflowed).
 */
export function bounded<T>(source: AsyncIterable<T>, limit: number, onOverflow: () => void, onEnd: () => void): AsyncIterableIterator<T> {
  const inner = source[Symbol.asyncIterator]();
  const buffer: T[] = [];
  let taker: Taker<T> | null = null;
  let sourceDone = false;
  let failure: { err: unknown } | null = null;
  let closed = false;
  let finished = false;

  const finish = () => {
    if (finished) return;
    finished = true;
    onEnd();
  };
  const close = () => {
    closed = true;
    buffer.length = 0;
    finish();
    void inner.return?.();
  };
  const takeTaker = () => {
    const t = taker;
    taker = null;
    return t;
  };
  /** The consumer's last answer: the source's failure, or done. */
  const last = (): Promise<IteratorResult<T>> => {
    finish();
    if (failure) {
      const { err } = failure;
      failure = null;
      return Promise.reject(err);
    }
    return Promise.resolve({ value: undefined, done: true });
  };

  void (async () => {
    try {
      for (;;) {
        const r = await inner.next();
        if (r.done || closed) break;
        const t = takeTaker();
        if (t) t.resolve({ value: r.value, done: false });
        else if (buffer.push(r.value) > limit) {
          close();
          onOverflow();
          break;
        }
      }
    } catch (err) {
      if (!closed) failure = { err };
    }
    sourceDone = true;
    const t = takeTaker();
    if (t) last().then(t.resolve, t.reject);
  })();

  const iterator: AsyncIterableIterator<T> = {
    next() {
      if (buffer.length) return Promise.resolve({ value: buffer.shift() as T, done: false });
      if (closed || sourceDone) return last();
      return new Promise((resolve, reject) => (taker = { resolve, reject }));
    },
    return() {
      close();
      takeTaker()?.resolve({ value: undefined, done: true });
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
