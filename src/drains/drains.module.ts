import { Module } from '@nestjs/common';
import { AppConfig } from '../config/config';
import { MIGRATION_PROVIDER } from '../providers/migration-provider.port';
import { SimulatedMigrationProvider } from '../providers/simulated-migration-provider';
import { DrainExecutor } from './drain-executor';
import { DrainsResolver } from './drains.resolver';
import { DrainsService } from './drains.service';
import { MachineNodeFieldsResolver, NodesResolver, VmsResolver } from './nodes.resolver';

/** Hypervisor nodes, their VMs, maintenance mode, drains and undrains. */
@Module({
  providers: [
    DrainsService,
    DrainExecutor,
    DrainsResolver,
    NodesResolver,
    VmsResolver,
    MachineNodeFieldsResolver,
    { provide: MIGRATION_PROVIDER, inject: [AppConfig], useFactory: (c: AppConfig) => new SimulatedMigrationProvider(c.drains.simulated_migration_delay_ms) },
  ],
})
export class DrainsModule {}
