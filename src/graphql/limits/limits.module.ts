import { Module } from '@nestjs/common';
import { OperationLimits } from './operation-limits';
import { OperationRateLimiter } from './rate-limiter';

/** The limits every GraphQL operation passes, shared by the HTTP and the WebSocket door. */
@Module({ providers: [OperationLimits, OperationRateLimiter], exports: [OperationLimits, OperationRateLimiter] })
export class GraphqlLimitsModule {}
