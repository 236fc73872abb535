import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, GraphQLSchema, OperationDefinitionNode, visit, type ValidationRule } from 'graphql';
import depthLimit from 'graphql-depth-limit';
import { ComplexityEstimator, getComplexity, simpleEstimator } from 'graphql-query-complexity';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { AppConfig } from '../config/config';
import { GqlContext } from './request-context';

export function depthRule(config: AppConfig): ValidationRule {
  return depthLimit(config.graphql.max_depth);
}

/** A paged field costs its page size (`first`, default 50) times what each item costs; nested lists count once. */
const listEstimator: ComplexityEstimator = ({ args, childComplexity, field }) => {
  if (!field.args.some((a) => a.name === 'first')) return undefined;
  const size = typeof args.first === 'number' ? args.first : 50;
  return size * Math.max(childComplexity, 1);
};

function limitError(message: string, code = 'BAD_USER_INPUT', status = 400): GraphQLError {
  return new GraphQLError(message, { extensions: { code, http: { status } } });
}

/**
 * Cost (with list sizes counted), aliases and root fields are checked once the operation and
 * its variables are known; then the caller's key is charged one operation in its rate limit.
 */
export function limitsPlugin(config: AppConfig, schema: () => GraphQLSchema): ApolloServerPlugin<GqlContext> {
  const limiter = new RateLimiterMemory({ points: config.graphql.rate_limit_per_minute, duration: 60 });
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operation, request, contextValue }) {
          const op = operation as OperationDefinitionNode;
          if (op.selectionSet.selections.length > config.graphql.max_root_fields) {
            throw limitError(`too many root fields: ${op.selectionSet.selections.length} (limit ${config.graphql.max_root_fields})`);
          }
          let aliases = 0;
          visit(document, { Field: (node) => void (node.alias && node.alias.value !== node.name.value && aliases++) });
          if (aliases > config.graphql.max_aliases) throw limitError(`too many aliases: ${aliases} (limit ${config.graphql.max_aliases})`);
          let cost = 0;
          try {
            cost = getComplexity({
              schema: schema(),
              query: document,
              operationName: request.operationName ?? undefined,
              variables: request.variables ?? {},
              estimators: [listEstimator, simpleEstimator({ defaultComplexity: 1 })],
            });
          } catch {
            // Variables that do not coerce: execution refuses them next, naming the field.
          }
          if (cost > config.graphql.max_cost) throw limitError(`query cost ${cost} exceeds the limit ${config.graphql.max_cost}`);
          const key = contextValue.principal?.keyId;
          if (!key) return;
          try {
            await limiter.consume(key);
          } catch (res) {
            if (!(res instanceof RateLimiterRes)) throw res;
            throw new GraphQLError(`rate limit: ${config.graphql.rate_limit_per_minute} operations a minute per key; retry in ${Math.ceil(res.msBeforeNext / 1000)} s`, {
              extensions: { code: 'RATE_LIMITED', retryAfterSeconds: Math.ceil(res.msBeforeNext / 1000), http: { status: 429 } },
            });
          }
        },
      };
    },
  };
}
