import { Module } from '@nestjs/common';
import { OperationLimits } from './operation-limits';

/** The limits every GraphQL operation passes, shared by the HTTP and the WebSocket door. */
@Module({ providers: [OperationLimits], exports: [OperationLimits] })
export class GraphqlLimitsModule {}
