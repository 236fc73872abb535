import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import type { GraphQLError, GraphQLFormattedError } from 'graphql';
import type { GqlContext } from '../request-context';
import type { OperationLimits } from './operation-limits';

/**
 * The HTTP door's share of the limits. Apollo parses (with the token limit; the text was
 * screened by `httpScreen` before) and leaves validation to `OperationLimits.prepare`, which
 * this plugin calls once the operation's name and variables are known: a document or
 * operation that may not run is answered here, with every reason, and never executes. (Its
 * rate limit was spent when the request's context was built.)
 */
export function httpLimitsPlugin(limits: OperationLimits, format: (error: GraphQLError) => GraphQLFormattedError): ApolloServerPlugin<GqlContext> {
  return {
    async requestDidStart() {
      return {
        async responseForOperation({ schema, document, request }) {
          const prepared = limits.prepare(schema, document, request.operationName, request.variables);
          if (prepared.ok) return null;
          return { http: { status: 400, headers: new HeaderMap() }, body: { kind: 'single', singleResult: { errors: prepared.errors.map(format) } } };
        },
      };
    },
  };
}
