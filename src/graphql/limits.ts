import type { ApolloServerPlugin } from '@apollo/server';
import { DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode, visit, type ValidationRule } from 'graphql';
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

/** The variables a cost can depend on: numbers (list sizes), booleans (@skip/@include) and nulls. */
function costVariables(variables: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(variables)) {
    if (value === null || typeof value === 'number' || typeof value === 'boolean') kept[name] = value;
  }
  return kept;
}

function limitError(message: string, code = 'BAD_USER_INPUT', status = 400): GraphQLError {
  return new GraphQLError(message, { extensions: { code, http: { status } } });
}

/**
 * Cost (with list sizes counted), aliases and root fields are checked once the operation and
 * its variables are known; then the caller's key is charged one operation in its rate limit.
 */
export function limitsPlugin(config: AppConfig, schema: () => GraphQLSchema): ApolloServerPlugin<GqlContext> {
  const limiter = new RateLimiterMemory({ points: config.graphql.rate_limit_per_minute, duration: 60 });
  // Apollo hands the same parsed document to every request with the same text, and the figures are
  // a function of the document, the operation and the variables the cost reads: list sizes (`first`,
  // an Int) and @skip/@include conditions (Booleans). Strings and input objects never change the
  // cost, so a mutation sent with fresh values each time is still measured once.
  const byDocument = new WeakMap<DocumentNode, Map<string, { aliases: number; cost: number }>>();
  const measured = (document: DocumentNode, operationName: string | undefined, variables: Record<string, unknown>) => {
    const key = `${operationName ?? ''}\u0000${JSON.stringify(costVariables(variables))}`;
    let known = byDocument.get(document);
    const hit = known?.get(key);
    if (hit) return hit;
    let aliases = 0;
    visit(document, { Field: (node) => void (node.alias && node.alias.value !== node.name.value && aliases++) });
    let cost = 0;
    try {
      cost = getComplexity({ schema: schema(), query: document, operationName, variables, estimators: [listEstimator, simpleEstimator({ defaultComplexity: 1 })] });
    } catch {
      // Variables that do not coerce: execution refuses them next, naming the field. Not kept, so
      // the zero never answers for variables that do coerce.
      return { aliases, cost };
    }
    if (!known) byDocument.set(document, (known = new Map()));
    if (known.size >= 64) known.clear();
    known.set(key, { aliases, cost });
    return { aliases, cost };
  };
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operation, request, contextValue }) {
          const op = operation as OperationDefinitionNode;
          if (op.selectionSet.selections.length > config.graphql.max_root_fields) {
            throw limitError(`too many root fields: ${op.selectionSet.selections.length} (limit ${config.graphql.max_root_fields})`);
          }
          const { aliases, cost } = measured(document, request.operationName ?? undefined, request.variables ?? {});
          if (aliases > config.graphql.max_aliases) throw limitError(`too many aliases: ${aliases} (limit ${config.graphql.max_aliases})`);
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
