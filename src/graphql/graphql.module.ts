import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import type { GraphQLFormattedError } from 'graphql';
import { PinoLogger } from 'nestjs-pino';
import { ApiKeysService } from '../access/api-keys.service';
import { RequestRateLimiter } from '../access/rate-limiter';
import { DomainErrorFilter } from './domain-error.filter';
import { formatError } from './errors';
import { IntegrityResolver } from './integrity.resolver';
import { httpLimitsPlugin } from './limits/http-limits.plugin';
import { GraphqlLimitsModule } from './limits/limits.module';
import { introspectionAllowed, OperationLimits } from './limits/operation-limits';
import { ProjectionsResolver } from './projections.resolver';
import { contextBuilder } from './request-context';
import { RolesGuard } from './roles';
import { PositionScalar } from './scalars';
import { GraphqlWsServer } from './ws/ws-server';

/**
 * Apollo Server at /graphql: queries and mutations over HTTP POST; subscriptions (and any
 * operation) over graphql-ws on the same path, served by GraphqlWsServer. Both doors apply the
 * same limits (OperationLimits, RequestRateLimiter). The schema is code-first, printed to
 * schema.graphql by `npm run schema`; a test fails when the served schema and the file differ.
 */
@Module({
  imports: [
    GraphqlLimitsModule,
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      imports: [GraphqlLimitsModule],
      inject: [PinoLogger, ApiKeysService, OperationLimits, RequestRateLimiter],
      useFactory: (logger: PinoLogger, keys: ApiKeysService, limits: OperationLimits, rateLimiter: RequestRateLimiter) => {
        const introspection = introspectionAllowed();
        logger.setContext('graphql');
        const logError = (err: unknown) => logger.error({ err }, 'unexpected error in a GraphQL operation');
        const format = (formatted: GraphQLFormattedError, error: unknown) => formatError(formatted, error, logError);
        return {
          path: '/graphql',
          autoSchemaFile: true,
          sortSchema: true,
          graphiql: false, // the offline IDE is served by ide.ts instead (no CDN assets)
          introspection,
          hideSchemaDetailsFromClientErrors: !introspection,
          includeStacktraceInErrorResponses: false,
          allowBatchedHttpRequests: false,
          // No automatic persisted queries: every request carries its document (a persistedQuery
          // extension is refused as PERSISTED_QUERY_NOT_SUPPORTED).
          persistedQueries: false,
          csrfPrevention: true,
          parseOptions: limits.parseOptions,
          // Validation, with the document limits, is OperationLimits.prepare's, called by the
          // limits plugin: the same on both doors, and safe from rules that throw.
          dangerouslyDisableValidation: true,
          // Every answer depends on who asks (roles, tenants), so no HTTP cache hint ever applies:
          // without this, Apollo's default cache-control plugin wraps every field of every result.
          plugins: [httpLimitsPlugin(limits, (e) => format(e.toJSON(), e)), ApolloServerPluginCacheControlDisabled()],
          context: contextBuilder(
            (authorization) => keys.authenticate(authorization),
            (principal, address) => rateLimiter.spend(principal, address),
          ),
          formatError: format,
        };
      },
    }),
  ],
  providers: [
    PositionScalar,
    ProjectionsResolver,
    GraphqlWsServer,
    IntegrityResolver,
    { provide: APP_FILTER, useClass: DomainErrorFilter },
    { provide: APP_GUARD, useClass: RolesGuard },
  ],
})
export class DrydockGraphqlModule {}
