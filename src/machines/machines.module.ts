import { Module } from '@nestjs/common';

/** The machines context: its decider now; its resolvers and handlers join as the API grows. */
@Module({})
export class MachinesModule {}
