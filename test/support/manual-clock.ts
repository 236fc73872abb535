import type { Clock } from '../../src/health/clock';

/** A clock that moves only when the test says: sleeps resolve as `advance` passes their time. */
export class ManualClock implements Clock {
  private timers: Array<{ at: number; resolve: () => void }> = [];
  /**
   * `io`, when given, waits for I/O the work started (an append's sync runs on a thread) and says
   * whether there was any: settling goes on until the promise chains and that I/O are both done.
   */
  constructor(
    private t = Date.parse('2026-11-21T10:00:00.000Z'),
    private readonly io: () => Promise<boolean> = async () => false,
  ) {}

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(signal!.reason ?? new Error('aborted'));
      };
      // Like the system clock, a sleep that ends lets go of the signal: a long-lived one (a
      // runner's stop signal) would otherwise collect a listener per sleep.
      const timer = {
        at: this.t + ms,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.timers.push(timer);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  timer(ms: number, fire: () => void): () => void {
    const timer = { at: this.t + ms, resolve: fire };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }

  /** Timers waiting now. */
  get waiting(): number {
    return this.timers.length;
  }

  /** Moves time forward, waking each sleeper at its moment and letting the work it starts run. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await this.settle();
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = due.at;
      this.timers = this.timers.filter((x) => x !== due);
      due.resolve();
    }
    this.t = end;
    await this.settle();
  }

  /** Lets pending promise chains, and the I/O they wait for, run to the end. */
  async settle(): Promise<void> {
    do await settle();
    while (await this.io());
  }
}

/** Lets pending promise chains and I/O callbacks run. */
export async function settle(turns = 30): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}
