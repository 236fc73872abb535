import { Module } from '@nestjs/common';
import { InstancesModule } from '../instances/instances.module';
import { HEALTH_PROVIDER } from '../providers/health-provider.port';
import { SimulatedHealthProvider } from '../providers/simulated-health-provider';
import { systemClock } from './clock';
import { HEALTH_CLOCK, HealthChecksService } from './health-checks.service';
import { HealthResolver, SiteConfigResolver } from './health.resolver';
import { RecoveryResolver } from './recovery.resolver';
import { SiteConfigService } from './site-config.service';

/** Health overrides, the repair workflow's API (the workflow itself is a saga in sagas/), health checks and recovery. */
@Module({
  imports: [InstancesModule],
  providers: [
    HealthResolver,
    SiteConfigResolver,
    SiteConfigService,
    HealthChecksService,
    RecoveryResolver,
    { provide: HEALTH_PROVIDER, useFactory: () => new SimulatedHealthProvider() },
    { provide: HEALTH_CLOCK, useValue: systemClock },
  ],
})
export class HealthModule {}
