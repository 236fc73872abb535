import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/config';
import { DomainErrorFilter } from './domain-error.filter';
import { formatError } from './errors';
import { ProjectionsResolver } from './projections.resolver';
import { buildContext } from './request-context';
import { PositionScalar } from './scalars';

/**
 * Apollo Server at /graphql: queries and mutations over HTTP POST, subscriptions over
 * graphql-ws on the same path. The schema is code-first, printed to schema.graphql by
 * `npm run schema`; a test fails when the served schema and the file differ.
 */
@Module({
  imports: [
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      inject: [AppConfig, PinoLogger],
      useFactory: (config: AppConfig, logger: PinoLogger) => {
        const production = process.env.NODE_ENV === 'production';
        logger.setContext('graphql');
        return {
          path: '/graphql',
          autoSchemaFile: true,
          sortSchema: true,
          graphiql: false, // the offline IDE is served by ide.ts instead (no CDN assets)
          introspection: !production,
          subscriptions: { 'graphql-ws': { path: '/graphql' } },
          context: buildContext,
          formatError: (formatted, error) =>
            formatError(formatted, error, (err) => logger.error({ err }, 'unexpected error in a GraphQL operation')),
        };
      },
    }),
  ],
  providers: [PositionScalar, ProjectionsResolver, { provide: APP_FILTER, useClass: DomainErrorFilter }],
})
export class DrydockGraphqlModule {}
