import { Module } from '@nestjs/common';
import { InstancesModule } from '../instances/instances.module';
import { HealthResolver, SiteConfigResolver } from './health.resolver';
import { SiteConfigService } from './site-config.service';

/** Health overrides and the repair workflow's API (the workflow itself is a saga in sagas/). */
@Module({ imports: [InstancesModule], providers: [HealthResolver, SiteConfigResolver, SiteConfigService] })
export class HealthModule {}
