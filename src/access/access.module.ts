import { Global, Module } from '@nestjs/common';
import { ApiKeysResolver } from './api-keys.resolver';
import { ApiKeysService } from './api-keys.service';
import { RequestRateLimiter } from './rate-limiter';

/** Identities: API keys (hashed), principals, roles, and how often each may call. */
@Global()
@Module({ providers: [ApiKeysService, ApiKeysResolver, RequestRateLimiter], exports: [ApiKeysService, RequestRateLimiter] })
export class AccessModule {}
