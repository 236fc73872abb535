import { HeaderMap } from '@apollo/server';
import { Inject, Injectable } from '@nestjs/common';
import { GraphQLError } from 'graphql';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Principal } from '../../access/principal';
import { AppConfig } from '../../config/config';

/**
 * Operations a minute: per API key, and per client address for whoever brings no valid key (no
 * key, an unknown or a revoked one), so guessing keys costs time. Every GraphQL operation spends
 * one point before its document is even parsed, over HTTP and over WebSocket alike; a refused
 * WebSocket connection (a bad key) spends one of its address's.
 */
@Injectable()
export class OperationRateLimiter {
  private readonly perKey: RateLimiterMemory;
  private readonly perAddress: RateLimiterMemory;
  private readonly graphql: AppConfig['graphql'];

  constructor(@Inject(AppConfig) config: AppConfig) {
    this.graphql = config.graphql;
    this.perKey = new RateLimiterMemory({ points: config.graphql.rate_limit_per_minute, duration: 60 });
    this.perAddress = new RateLimiterMemory({ points: config.graphql.rate_limit_unauthenticated_per_minute, duration: 60 });
  }

  /** Spends one operation of the caller's budget: null when it may go on, else RATE_LIMITED (HTTP 429 with Retry-After). */
  async admit(principal: Principal | null, address: string | undefined): Promise<GraphQLError | null> {
    const [limiter, key, points, who] = principal
      ? [this.perKey, principal.keyId, this.graphql.rate_limit_per_minute, 'per key']
      : [this.perAddress, `address:${address ?? 'unknown'}`, this.graphql.rate_limit_unauthenticated_per_minute, 'per address without a valid key'];
    try {
      await limiter.consume(key);
      return null;
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      const retryAfterSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      return new GraphQLError(`rate limit: ${points} operations a minute ${who}; retry in ${retryAfterSeconds} s`, {
        extensions: { code: 'RATE_LIMITED', retryAfterSeconds, http: { status: 429, headers: new HeaderMap([['retry-after', String(retryAfterSeconds)]]) } },
      });
    }
  }
}
