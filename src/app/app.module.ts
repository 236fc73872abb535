import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { ALL_PROJECTIONS } from '../../projections';
import { sagasFor } from '../../sagas';
import { AppConfig } from '../config/config';
import { AccessModule } from '../access/access.module';
import { ConfigModule } from '../config/config.module';
import { EventStoreModule } from '../event-store/event-store.module';
import { AnalyticsModule } from '../analytics/analytics.resolver';
import { AuditModule } from '../audit/audit.module';
import { DrainsModule } from '../drains/drains.module';
import { ProvisioningModule } from '../provisioning/provisioning.module';
import { DrydockGraphqlModule } from '../graphql/graphql.module';
import { HealthModule } from '../health/health.module';
import { SiteSettings } from '../health/site-settings';
import { InstancesModule } from '../instances/instances.module';
import { MachinesModule } from '../machines/machines.module';
import { MessagingModule } from '../messaging/messaging.module';
import { MetricsController, MetricsModule } from '../metrics/metrics.module';
import { OperationsModule } from '../operations/operations.module';
import { Projection, Saga } from '../messaging/projection';
import { ReadStoreModule } from '../read-store/read-store.module';
import { loggerParams } from './logging';
import { ProbesController } from './probes.controller';
import { StoreDamagedFilter } from './store-damage.filter';

export interface AppOptions {
  /** Defaults: every module in projections/ and sagas/. Tests may run others. */
  projections?: readonly Projection[];
  sagas?: readonly Saga[];
  graphql?: boolean;
}

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, options: AppOptions = {}): DynamicModule {
    const settings = new SiteSettings(config);
    return {
      module: AppModule,
      global: true,
      providers: [{ provide: SiteSettings, useValue: settings }, { provide: APP_FILTER, useClass: StoreDamagedFilter }],
      exports: [SiteSettings],
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot(loggerParams(config)),
        MetricsModule,
        EventStoreModule,
        ReadStoreModule,
        MessagingModule.forRoot(options.projections ?? ALL_PROJECTIONS, options.sagas ?? sagasFor(settings)),
        AccessModule,
        MachinesModule,
        OperationsModule,
        InstancesModule,
        HealthModule,
        DrainsModule,
        ProvisioningModule,
        AuditModule,
        AnalyticsModule,
        ...(options.graphql === false ? [] : [DrydockGraphqlModule]),
      ],
      controllers: [ProbesController, MetricsController],
    };
  }
}
