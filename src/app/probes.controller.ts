import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { READ_STORE, ReadStore } from '../read-store/read-store.port';
import { RunnerRegistry } from '../messaging/runner-registry';
import { StoreDamagedError } from '../storage/integrity';

/**
 * Liveness (`/healthz`: the process answers) and readiness (`/readyz`: stores reachable and not
 * seen damaged, runners running, every read model served: none refused for not matching the log).
 */
@Controller()
export class ProbesController {
  private readonly startedAt = Date.now();

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_STORE) private readonly readStore: ReadStore,
    private readonly runners: RunnerRegistry,
  ) {}

  @Get('healthz')
  healthz() {
    return { status: 'ok', uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000) };
  }

  @Get('readyz')
  async readyz() {
    const checks: Record<string, unknown> = {};
    let ready = true;
    for (const [name, store] of [['eventStore', this.store], ['readStore', this.readStore]] as const) {
      try {
        await store.ping();
        checks[name] = { status: 'ok', store: store.description };
      } catch (err) {
        ready = false;
        // A store this instance has seen damaged says so (and what to do) until it is restarted.
        checks[name] =
          err instanceof StoreDamagedError
            ? { status: 'damaged', reason: err.reason, store: err.store, error: err.message }
            : { status: 'unreachable', error: (err as Error).message };
      }
    }
    const runners = this.runners.statuses();
    // A read model refused (it does not match the log, or there is none yet for it) is rebuilt before this instance is ready.
    const notRunning = runners.filter((r) => r.state === 'starting' || r.state === 'stopped' || r.serving === false);
    if (notRunning.length) ready = false;
    checks.subscriptions = runners;
    if (!ready) throw new ServiceUnavailableException({ status: 'not_ready', checks });
    return { status: 'ready', checks };
  }
}
