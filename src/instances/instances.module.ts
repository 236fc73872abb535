import { Module } from '@nestjs/common';
import { InstancesResolver } from './instances.resolver';

/** Instances: allocation on an allocatable machine, release (with an issue report). */
@Module({ providers: [InstancesResolver] })
export class InstancesModule {}
