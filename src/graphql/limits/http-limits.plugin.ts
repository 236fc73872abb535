import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { GqlContext } from '../request-context';
import type { OperationLimits } from './operation-limits';

/**
 * The HTTP door's share of the limits. Apollo parses (with the token limit; the text was
 * screened by `httpScreen` before) and leaves validation to `OperationLimits.prepare`, which
 * this plugin calls once the operation's name and variables are known: a document or
 * operation that may not run is answered here, with every reason, and never executes; so is a
 * subscription, which is the WebSocket door's. (Its
 * rate limit was spent when the request's context was built.)
 */
export function httpLimitsPlugin(limits: OperationLimits, format: (error: GraphQLError) => GraphQLFormattedError): ApolloServerPlugin<GqlContext> {
  const refusal = (errors: readonly GraphQLError[]) => ({ http: { status: 400, headers: new HeaderMap() }, body: { kind: 'single' as const, singleResult: { errors: errors.map(format) } } });
  return {
    async requestDidStart() {
      return {
        async responseForOperation({ schema, document, request }) {
          const prepared = limits.prepare(schema, document, request.operationName, request.variables);
          if (!prepared.ok) return refusal(prepared.errors);
          if (prepared.operation.operation !== 'subscription') return null;
          return refusal([new GraphQLError('subscriptions are served over WebSocket (graphql-ws, graphql-transport-ws) on this path, not over HTTP', { extensions: { code: 'BAD_USER_INPUT', field: 'query' } })]);
        },
      };
    },
  };
}
