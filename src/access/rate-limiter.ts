import { Inject, Injectable } from '@nestjs/common';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { AppConfig } from '../config/config';
import type { Principal } from './principal';

/** A refusal for going over the rate limit: what to say, and when to come back. */
export interface RateLimited {
  message: string;
  retryAfterSeconds: number;
}

/**
 * Requests a minute: per API key, and per client address for whoever brings no valid key (no
 * key, an unknown or a revoked one), so guessing keys costs time. Every GraphQL operation,
 * over HTTP or WebSocket, spends one point before its document is even parsed; so does every
 * export and every refused WebSocket connection. Each door answers a refusal in its own shape
 * (RATE_LIMITED, HTTP 429 with Retry-After).
 */
@Injectable()
export class RequestRateLimiter {
  private readonly perKey: RateLimiterMemory;
  private readonly perAddress: RateLimiterMemory;
  private readonly graphql: AppConfig['graphql'];

  constructor(@Inject(AppConfig) config: AppConfig) {
    this.graphql = config.graphql;
    this.perKey = new RateLimiterMemory({ points: config.graphql.rate_limit_per_minute, duration: 60 });
    this.perAddress = new RateLimiterMemory({ points: config.graphql.rate_limit_unauthenticated_per_minute, duration: 60 });
  }

  /** Spends one request of the caller's budget: null when it may go on, else the refusal. */
  async spend(principal: Principal | null, address: string | undefined): Promise<RateLimited | null> {
    const [limiter, key, points, who] = principal
      ? [this.perKey, principal.keyId, this.graphql.rate_limit_per_minute, 'per key']
      : [this.perAddress, `address:${address ?? 'unknown'}`, this.graphql.rate_limit_unauthenticated_per_minute, 'per address without a valid key'];
    try {
      await limiter.consume(key);
      return null;
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      const retryAfterSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      return { message: `rate limit: ${points} requests a minute ${who}; retry in ${retryAfterSeconds} s`, retryAfterSeconds };
    }
  }
}
