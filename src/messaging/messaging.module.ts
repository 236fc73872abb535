import { Global, Module } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/config';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { CommandPipeline } from './command-pipeline';
import { DecideCommandHandler } from './decide.command';
import { RunnerRegistry } from './runner-registry';

@Global()
@Module({
  imports: [CqrsModule.forRoot()],
  providers: [
    {
      provide: CommandPipeline,
      inject: [EVENT_STORE, AppConfig, PinoLogger],
      useFactory: (store: EventStore, config: AppConfig, logger: PinoLogger) => {
        logger.setContext('commands');
        return new CommandPipeline(store, logger, config.commands.max_conflict_retries);
      },
    },
    DecideCommandHandler,
    RunnerRegistry,
  ],
  exports: [CqrsModule, CommandPipeline, RunnerRegistry],
})
export class MessagingModule {}
