import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from '../config/config';
import { ConfigModule } from '../config/config.module';
import { EventStoreModule } from '../event-store/event-store.module';
import { MachinesModule } from '../machines/machines.module';
import { MessagingModule } from '../messaging/messaging.module';
import { loggerParams } from './logging';
import { ProbesController } from './probes.controller';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot(loggerParams(config)),
        EventStoreModule,
        MessagingModule,
        MachinesModule,
      ],
      controllers: [ProbesController],
    };
  }
}
