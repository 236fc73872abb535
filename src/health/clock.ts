/** Time, as the health core sees it: real in the app, controllable in tests. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`; rejects when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fire` after `ms` unless the returned cancel is called first: a timeout with nothing to listen to. */
  timer(ms: number, fire: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // Rejects with the signal's own reason: a probe's timer is cancelled for every answer, and
  // building an AbortError (a stack trace) each time cost a round over 100,000 targets 0.7 s.
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  timer: (ms, fire) => {
    const t = setTimeout(fire, ms);
    return () => clearTimeout(t);
  },
};

/** The reason a timed-out call's signal aborts: one object, not an error built per call. */
const TIMED_OUT = Object.freeze({ timedOut: true });

/**
 * Runs `fn` with a signal that aborts if `ms` pass on `clock` before it answers; the answer is
 * then `onTimeout()` (which may throw). An answer in time costs one timer and no abort: the
 * health monitor pays this for every probe of every round.
 */
export function withTimeout<T>(clock: Clock, ms: number, fn: (signal: AbortSignal) => Promise<T>, onTimeout: () => T): Promise<T> {
  const controller = new AbortController();
  let cancel = () => {};
  const timedOut = new Promise<T>((resolve, reject) => {
    cancel = clock.timer(ms, () => {
      controller.abort(TIMED_OUT);
      try {
        resolve(onTimeout());
      } catch (err) {
        reject(err);
      }
    });
  });
  let answer: Promise<T>;
  try {
    answer = fn(controller.signal);
  } catch (err) {
    cancel();
    return Promise.reject(err);
  }
  return Promise.race([answer, timedOut]).finally(cancel);
}
