import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/config';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { Leases } from '../messaging/leases';
import { RunnerRegistry } from '../messaging/runner-registry';
import { LogSealer, SEALER_LEASE } from './log-sealer';

/**
 * The app's sealer (`event_store.seal_interval_ms`; none at 0), reported to /readyz beside the
 * runners. Its last round runs at shutdown: this module stops before the global event store closes.
 */
@Injectable()
export class LogSealerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly sealer: LogSealer | null;

  constructor(@Inject(EVENT_STORE) log: EventStore, leases: Leases, config: AppConfig, registry: RunnerRegistry, logger: PinoLogger) {
    logger.setContext('log-sealer');
    const every = config.event_store.seal_interval_ms;
    // Each round that seals logs at debug: one line a minute at info would be noise.
    const rounds = { info: (o: object, m: string) => logger.debug(o, m), warn: (o: object, m: string) => logger.warn(o, m), error: (o: object, m: string) => logger.error(o, m) };
    const sealer = (this.sealer = every > 0 ? new LogSealer(log, leases, every, rounds) : null);
    if (sealer) registry.register(SEALER_LEASE, () => ({ name: SEALER_LEASE, kind: 'sealer', state: sealer.state, error: sealer.error ?? undefined }));
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.sealer?.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sealer?.stop();
  }
}
