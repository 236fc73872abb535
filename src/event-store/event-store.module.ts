import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/config';
import { createEventStore } from './create-event-store';
import { EVENT_STORE, EventStore } from './event-store.port';

@Global()
@Module({
  providers: [
    {
      provide: EVENT_STORE,
      inject: [AppConfig, PinoLogger],
      useFactory: (config: AppConfig, logger: PinoLogger) => {
        logger.setContext('storage');
        return createEventStore(config, (details, message) => logger.warn(details, message));
      },
    },
  ],
  exports: [EVENT_STORE],
})
export class EventStoreModule implements OnApplicationShutdown {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
