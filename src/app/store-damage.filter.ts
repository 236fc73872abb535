import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { GqlContextType } from '@nestjs/graphql';
import type { ServerResponse } from 'node:http';
import { PinoLogger } from 'nestjs-pino';
import { UnavailableError } from '../messaging/domain-errors';
import { StoreDamagedError } from '../storage/integrity';

/**
 * A damaged store, as every caller is told it (the one place this is decided): UNAVAILABLE, with
 * the `reason` (EVENT_STORE_DAMAGED, READ_STORE_DAMAGED), the `store`, what the operator does in
 * the message, and `retryable: false` (the same request fails until the store is restored or rebuilt).
 */
export function storeDamaged(err: StoreDamagedError): UnavailableError {
  return new UnavailableError(err.message, { reason: err.reason, store: err.store, retryable: false });
}

/**
 * Maps the stores' `StoreDamagedError` wherever it reaches a query, a mutation (the command
 * pipeline passes it through) or an HTTP route, and logs it at error level: an operator must act.
 * (A subscription's stream that fails on one after it has begun is ended by the WebSocket server.)
 */
@Catch(StoreDamagedError)
export class StoreDamagedFilter implements ExceptionFilter<StoreDamagedError> {
  constructor(private readonly logger: PinoLogger) {
    this.logger.setContext('storage');
  }

  catch(err: StoreDamagedError, host: ArgumentsHost): UnavailableError | undefined {
    this.logger.error({ reason: err.reason, store: err.store, detail: err.detail }, 'a store is damaged: the request was refused');
    const answer = storeDamaged(err);
    // GraphQL: returned, it is the field's error, formatted as every domain error is.
    if (host.getType<GqlContextType>() === 'graphql') return answer;
    const res = host.switchToHttp().getResponse<ServerResponse>();
    if (res.headersSent) {
      // A body under way cannot say so: cutting it tells the client it is incomplete.
      res.destroy();
      return undefined;
    }
    res.writeHead(503, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ error: { code: answer.code, message: answer.message, ...answer.details } }));
    return undefined;
  }
}
