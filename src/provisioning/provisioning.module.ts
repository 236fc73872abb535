import { Module } from '@nestjs/common';
import { AppConfig } from '../config/config';
import { InstancesModule } from '../instances/instances.module';
import { PROVISIONING_PROVIDER } from '../providers/provisioning-provider.port';
import { SimulatedProvisioningProvider } from '../providers/simulated-provisioning-provider';
import { ProvisioningExecutor } from './provisioning-executor';
import { ProvisioningResolver } from './provisioning.resolver';

/** createInstance and its retry: provisioning driven from the instance's stream. */
@Module({
  imports: [InstancesModule],
  providers: [
    ProvisioningExecutor,
    ProvisioningResolver,
    { provide: PROVISIONING_PROVIDER, inject: [AppConfig], useFactory: (c: AppConfig) => new SimulatedProvisioningProvider(c.storage.data_dir) },
  ],
})
export class ProvisioningModule {}
