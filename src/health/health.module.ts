import { Module } from '@nestjs/common';
import { InstancesModule } from '../instances/instances.module';
import { HealthResolver } from './health.resolver';

/** Health overrides and the repair workflow's API (the workflow itself is a saga in sagas/). */
@Module({ imports: [InstancesModule], providers: [HealthResolver] })
export class HealthModule {}
