import { HeaderMap } from '@apollo/server';
import { GraphQLError, type ASTNode } from 'graphql';
import type { RateLimited } from '../../access/rate-limiter';

/** Which limit an operation went over: named in `extensions.limit` of the refusal. */
export type LimitName = 'tokens' | 'nesting' | 'depth' | 'aliases' | 'directives' | 'rootFields' | 'fieldsPerSelection' | 'cost';

/** The limits checked on the text before it is parsed; the others are checked on the parsed document. */
const TEXT_LIMITS: ReadonlySet<LimitName> = new Set(['tokens', 'nesting']);

/**
 * The refusal of a document or operation over a limit (HTTP 400): `GRAPHQL_PARSE_FAILED` for the
 * text's limits, `GRAPHQL_VALIDATION_FAILED` for the others, naming the limit and its value, with
 * what was found where it is known.
 */
export function limitError(limit: LimitName, max: number, message: string, found?: number, nodes?: ASTNode | readonly ASTNode[]): GraphQLError {
  const code = TEXT_LIMITS.has(limit) ? 'GRAPHQL_PARSE_FAILED' : 'GRAPHQL_VALIDATION_FAILED';
  return new GraphQLError(message, {
    nodes,
    extensions: { code, limit, max, ...(found !== undefined && Number.isFinite(found) ? { found } : {}), http: { status: 400 } },
  });
}

/** A rate-limit refusal as GraphQL says it: RATE_LIMITED with `retryAfterSeconds`; over HTTP, 429 with Retry-After. */
export function rateLimitedError(r: RateLimited): GraphQLError {
  return new GraphQLError(r.message, {
    extensions: { code: 'RATE_LIMITED', retryAfterSeconds: r.retryAfterSeconds, http: { status: 429, headers: new HeaderMap([['retry-after', String(r.retryAfterSeconds)]]) } },
  });
}
