import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/config';
import { createReadStore } from './create-read-store';
import { READ_STORE, ReadStore } from './read-store.port';

@Global()
@Module({
  providers: [
    {
      provide: READ_STORE,
      inject: [AppConfig, PinoLogger],
      useFactory: (config: AppConfig, logger: PinoLogger) => {
        logger.setContext('storage');
        return createReadStore(config, (details, message) => logger.warn(details, message));
      },
    },
  ],
  exports: [READ_STORE],
})
export class ReadStoreModule implements OnApplicationShutdown {
  constructor(@Inject(READ_STORE) private readonly store: ReadStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
