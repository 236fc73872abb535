import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { GraphQLModule, GraphQLSchemaHost } from '@nestjs/graphql';
import { ExecutionResult, GraphQLError } from 'graphql';
import type { Context as WsContext } from 'graphql-ws';
import { PinoLogger } from 'nestjs-pino';
import { ApiKeysService } from '../access/api-keys.service';
import { AppConfig } from '../config/config';
import { DomainErrorFilter } from './domain-error.filter';
import { formatError } from './errors';
import { depthRule, limitsPlugin } from './limits';
import { IntegrityResolver } from './integrity.resolver';
import { ProjectionsResolver } from './projections.resolver';
import { contextBuilder } from './request-context';
import { RolesGuard } from './roles';
import { PositionScalar } from './scalars';

interface WsExtra {
  socket: { close(code?: number, reason?: string): void };
  keyId?: string;
}

/**
 * Apollo Server at /graphql: queries and mutations over HTTP POST, subscriptions over
 * graphql-ws on the same path. The schema is code-first, printed to schema.graphql by
 * `npm run schema`; a test fails when the served schema and the file differ.
 */
@Module({
  imports: [
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      inject: [AppConfig, PinoLogger, ApiKeysService, GraphQLSchemaHost],
      useFactory: (config: AppConfig, logger: PinoLogger, keys: ApiKeysService, schemaHost: GraphQLSchemaHost) => {
        const production = process.env.NODE_ENV === 'production';
        logger.setContext('graphql');
        const authenticate = (authorization: unknown) => keys.authenticate(authorization);
        const logError = (err: unknown) => logger.error({ err }, 'unexpected error in a GraphQL operation');
        const formatWsError = (e: GraphQLError) => formatError(e.toJSON(), e, logError);
        return {
          path: '/graphql',
          autoSchemaFile: true,
          sortSchema: true,
          graphiql: false, // the offline IDE is served by ide.ts instead (no CDN assets)
          introspection: !production,
          hideSchemaDetailsFromClientErrors: production,
          includeStacktraceInErrorResponses: false,
          allowBatchedHttpRequests: false,
          csrfPrevention: true,
          validationRules: [depthRule(config)],
          // Every answer depends on who asks (roles, tenants), so no HTTP cache hint ever applies:
          // without this, Apollo's default cache-control plugin wraps every field of every result.
          plugins: [limitsPlugin(config, () => schemaHost.schema), ApolloServerPluginCacheControlDisabled()],
          subscriptions: {
            'graphql-ws': {
              path: '/graphql',
              // Checked at connection_init...
              onConnect: async (ctx: WsContext) => {
                const extra = ctx.extra as WsExtra;
                const principal = await authenticate(ctx.connectionParams?.authorization);
                if (!principal) {
                  extra.socket.close(4401, 'UNAUTHENTICATED: connectionParams.authorization needs a valid API key');
                  return false;
                }
                extra.keyId = principal.keyId;
                keys.trackSocket(principal.keyId, extra.socket);
                return true;
              },
              // ...and again on every subscribe.
              onSubscribe: async (ctx: WsContext) => {
                if (!(await authenticate(ctx.connectionParams?.authorization))) {
                  return [new GraphQLError('the API key of this connection is no longer valid', { extensions: { code: 'UNAUTHENTICATED' } })];
                }
                return undefined;
              },
              // Subscription results and errors get the same error mapping as HTTP: a code, nothing internal.
              onNext: (_ctx: WsContext, _id: string, _payload: unknown, _args: unknown, result: ExecutionResult) =>
                result.errors ? { ...result, errors: result.errors.map((e) => formatWsError(e)) } : undefined,
              onError: (_ctx: WsContext, _id: string, _payload: unknown, errors: readonly GraphQLError[]) => errors.map((e) => formatWsError(e)),
              onClose: (ctx: WsContext) => {
                const extra = ctx.extra as WsExtra;
                if (extra.keyId) keys.untrackSocket(extra.keyId, extra.socket);
              },
            },
          },
          context: contextBuilder(authenticate),
          formatError: (formatted, error) => formatError(formatted, error, logError),
        };
      },
    }),
  ],
  providers: [
    PositionScalar,
    ProjectionsResolver,
    IntegrityResolver,
    { provide: APP_FILTER, useClass: DomainErrorFilter },
    { provide: APP_GUARD, useClass: RolesGuard },
  ],
})
export class DrydockGraphqlModule {}
