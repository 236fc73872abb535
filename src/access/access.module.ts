import { Global, Module } from '@nestjs/common';
import { ApiKeysResolver } from './api-keys.resolver';
import { ApiKeysService } from './api-keys.service';

/** Identities: API keys (hashed), principals, roles. */
@Global()
@Module({ providers: [ApiKeysService, ApiKeysResolver], exports: [ApiKeysService] })
export class AccessModule {}
