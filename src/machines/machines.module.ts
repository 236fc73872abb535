import { Module } from '@nestjs/common';
import { MachinesResolver } from './machines.resolver';

/** The machines context: its decider, projection rules and GraphQL resolver. */
@Module({ providers: [MachinesResolver] })
export class MachinesModule {}
