import { DynamicModule, Global, Module } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/config';
import { Metrics } from '../metrics/metrics';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { READ_STORE, ReadStore } from '../read-store/read-store.port';
import { CommandPipeline } from './command-pipeline';
import { DecideAllCommandHandler, DecideCommandHandler } from './decide.command';
import { ExecutorHost } from './executors';
import { Leases, thisProcess } from './leases';
import { Projection, Saga } from './projection';
import { PROJECTIONS, ProjectionsService } from './projections.service';
import { RunnerRegistry } from './runner-registry';
import { SAGAS, SagasService } from './sagas.service';

/** The command pipeline and the subscription runners (projections and sagas). */
@Global()
@Module({})
export class MessagingModule {
  static forRoot(projections: readonly Projection[], sagas: readonly Saga[]): DynamicModule {
    return {
      module: MessagingModule,
      imports: [CqrsModule.forRoot()],
      providers: [
        {
          provide: CommandPipeline,
          inject: [EVENT_STORE, AppConfig, PinoLogger, Metrics],
          useFactory: (store: EventStore, config: AppConfig, logger: PinoLogger, metrics: Metrics) => {
            logger.setContext('commands');
            return new CommandPipeline(store, logger, config.commands.max_conflict_retries, undefined, {
              command: (command, outcome) => metrics.commands.inc({ command, outcome }),
              append: (seconds) => metrics.appendDuration.observe(seconds),
            });
          },
        },
        DecideCommandHandler,
        DecideAllCommandHandler,
        {
          provide: Leases,
          inject: [READ_STORE, AppConfig],
          useFactory: (store: ReadStore, config: AppConfig) => new Leases(store, thisProcess(), config.projections.lease_ttl_ms),
        },
        RunnerRegistry,
        { provide: PROJECTIONS, useValue: projections },
        { provide: SAGAS, useValue: sagas },
        ProjectionsService,
        SagasService,
        ExecutorHost,
      ],
      exports: [CqrsModule, CommandPipeline, RunnerRegistry, ProjectionsService, ExecutorHost, Leases],
    };
  }
}
