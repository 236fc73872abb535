import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { Leases, RunnerLease } from './leases';
import { RunnerRegistry, RunnerState } from './runner-registry';

/**
 * Work that drives outside systems: drains, operations, provisioning, health checks and
 * recoveries. Their steps are recorded through deciders, which refuse a step recorded already,
 * but a provider call cannot be taken back: two instances must never both drive one.
 */
export interface Executor {
  /** This instance now holds the executors' lease: resume unfinished work from the log, take new work. */
  start(): Promise<void>;
  /** The lease is gone, or the process stops: start nothing new and abort what runs. */
  stop(): Promise<void>;
}

/**
 * Runs every executor in one instance at a time, under one lease (`executors`), like the
 * projections and sagas under theirs. The others stand by; when the holder stops cleanly, dies
 * or loses the lease, one of them takes it over and its executors resume from the log.
 */
@Injectable()
export class ExecutorHost implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly executors: Executor[] = [];
  private readonly lease: RunnerLease;
  private state: RunnerState = 'starting';

  constructor(
    leases: Leases,
    registry: RunnerRegistry,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('executors');
    this.lease = new RunnerLease(leases, 'executors', (err) => this.logger.warn({ err }, 'lease round failed'));
    registry.register('executors', () => ({ name: 'executors', kind: 'executor', state: this.state }));
  }

  /** Called by each executor as it is made: the host starts and stops it with the lease. */
  register(executor: Executor): void {
    this.executors.push(executor);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.lease.start({
      acquired: async () => {
        this.state = 'running';
        for (const e of this.executors) await e.start();
      },
      lost: async () => {
        this.logger.warn({}, 'the executors lease was taken over: this instance stops driving outside systems');
        this.state = 'standby';
        for (const e of this.executors) await e.stop();
      },
    });
    if (!this.lease.held) this.state = 'standby';
  }

  async onApplicationShutdown(): Promise<void> {
    await this.lease.halt();
    for (const e of this.executors) await e.stop();
    await this.lease.release();
    this.state = 'stopped';
  }
}
