import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/config';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { READ_STORE, ReadStore } from '../read-store/read-store.port';
import { DecideCommand } from './decide.command';
import { Leases, RunnerLease } from './leases';
import { Saga } from './projection';
import { RunnerRegistry } from './runner-registry';
import { SagaRunner } from './saga-runner';

export const SAGAS = Symbol('SAGAS');

/** Runs every saga from its own checkpoint; their commands go through the CommandBus. */
@Injectable()
export class SagasService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly runners: SagaRunner[] = [];

  constructor(
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(READ_STORE) store: ReadStore,
    @Inject(SAGAS) sagas: readonly Saga[],
    bus: CommandBus,
    config: AppConfig,
    registry: RunnerRegistry,
    logger: PinoLogger,
    leases: Leases,
  ) {
    logger.setContext('sagas');
    for (const saga of sagas) {
      const runner = new SagaRunner(
        saga,
        events,
        store,
        (c, context) => bus.execute(new DecideCommand(c.decider, c.stream, c.command, context)),
        { batchSize: config.projections.batch_size, maxWaitMs: config.projections.max_wait_ms },
        { info: (o, m) => logger.info(o, m), warn: (o, m) => logger.warn(o, m), error: (o, m) => logger.error(o, m) },
        new RunnerLease(leases, `saga:${saga.name}`, (err) => logger.warn({ saga: saga.name, err }, 'lease round failed')),
      );
      this.runners.push(runner);
      registry.register(`saga:${saga.name}`, () => ({ name: saga.name, kind: 'saga', state: runner.state, error: runner.error ?? undefined }));
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const r of this.runners) await r.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.stop()));
  }
}
