import { EventStore } from '../event-store/event-store.port';
import { sealLog } from '../event-store/log-seals';
import { Leases, RunnerLease } from '../messaging/leases';
import type { RunnerLogger } from '../messaging/projection-runner';
import type { RunnerState } from '../messaging/runner-registry';

/** The lease whose holder seals the log. */
export const SEALER_LEASE = 'log-sealer';

/**
 * Seals the log every `intervalMs` (see `sealLog`), in one instance at a time: the holder of the
 * `log-sealer` lease. The first round runs as the lease is taken (a log written before seals
 * existed is sealed whole then), and the last as the instance stops cleanly, so what it wrote
 * last is sealed too. A round that fails is logged and tried again at the next.
 */
export class LogSealer {
  state: RunnerState = 'starting';
  error: string | null = null;
  readonly actor: string;
  private readonly lease: RunnerLease;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private stopping = false;

  constructor(
    private readonly log: EventStore,
    leases: Leases,
    private readonly intervalMs: number,
    private readonly logger: RunnerLogger,
  ) {
    this.actor = `system:log-sealer (${leases.holder.id})`;
    this.lease = new RunnerLease(leases, SEALER_LEASE, (err) => this.logger.warn({ err }, 'lease round failed'));
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.lease.start({
      acquired: async () => {
        this.state = 'running';
        this.schedule(0);
      },
      lost: async () => {
        this.logger.warn({}, 'the log-sealer lease was taken over: another instance seals the log now');
        this.state = 'standby';
        this.unschedule();
        await this.round;
      },
    });
    if (!this.lease.held) this.state = 'standby';
  }

  /** Stops the rounds; with the lease still held, seals once more, then gives the lease up. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.lease.halt();
    this.unschedule();
    await this.round;
    if (this.lease.held) await this.seal(true);
    await this.lease.release();
    this.state = 'stopped';
  }

  private schedule(ms: number): void {
    this.unschedule();
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.round = this.seal(false).finally(() => {
        this.round = null;
        if (this.lease.held) this.schedule(this.intervalMs);
      });
    }, ms);
    this.timer.unref();
  }

  private unschedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async seal(last: boolean): Promise<void> {
    try {
      // A periodic round ends early when the lease goes or the instance stops (the last round follows).
      const done = await sealLog(this.log, { actor: this.actor, stop: () => !this.lease.held || (this.stopping && !last) });
      if (done.seals) this.logger.info({ ...done, last }, 'log sealed');
      if (this.state === 'failed') this.state = 'running';
      this.error = null;
    } catch (err) {
      this.state = 'failed';
      this.error = (err as Error).message;
      this.logger.error({ err }, 'sealing the log failed; the next round tries again');
    }
  }
}
