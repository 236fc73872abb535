import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from './config';

/** Provides the one validated AppConfig, loaded once by the caller (main, a test, a benchmark). */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: AppConfig, useValue: config }], exports: [AppConfig] };
  }
}
