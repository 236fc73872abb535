import { Module } from '@nestjs/common';
import { AppConfig } from '../config/config';
import { MACHINE_PROVIDER } from '../providers/machine-provider.port';
import { SimulatedMachineProvider } from '../providers/simulated-machine-provider';
import { OperationExecutor } from './operation-executor';
import { OperationsResolver } from './operations.resolver';

/** Lifecycle operations: requested through GraphQL, driven by the executor through the provider port. */
@Module({
  providers: [
    OperationsResolver,
    OperationExecutor,
    { provide: MACHINE_PROVIDER, inject: [AppConfig], useFactory: (c: AppConfig) => new SimulatedMachineProvider(c.operations.simulated_stage_delay_ms) },
  ],
})
export class OperationsModule {}
