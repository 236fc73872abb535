import { Module } from '@nestjs/common';
import { InstancesResolver } from './instances.resolver';
import { InstancesService } from './instances.service';

/** Instances: allocation on an allocatable machine, release (with an issue report). */
@Module({ providers: [InstancesResolver, InstancesService], exports: [InstancesService] })
export class InstancesModule {}
