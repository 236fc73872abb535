import { HttpException } from '@nestjs/common';
import { GraphQLError, GraphQLFormattedError } from 'graphql';
import { storeDamaged } from '../app/store-damage.filter';
import { DomainError } from '../messaging/domain-errors';
import { StoreDamagedError } from '../storage/integrity';

const GRAPHQL_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'BAD_REQUEST',
  'RATE_LIMITED',
  'UNAUTHENTICATED',
  'OPERATION_RESOLUTION_FAILURE',
  'TOO_MANY_SUBSCRIPTIONS',
]);

/** What a refusal may say besides its code: the field, the limit and its figures, when to retry. */
const KEPT_EXTENSIONS = ['field', 'limit', 'max', 'found', 'retryAfterSeconds'] as const;

/**
 * Maps every error to `extensions.code` (ARCHITECTURE rule 6). Domain errors keep their
 * message and details; anything unexpected becomes INTERNAL with no internal message or stack.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown, log: (err: unknown) => void): GraphQLFormattedError {
  // In production no message names what the schema has ("Did you mean ...?"), whichever rule wrote it.
  const answer = mapped(formatted, error, log);
  return process.env.NODE_ENV === 'production' ? { ...answer, message: withoutSuggestions(answer.message) } : answer;
}

const withoutSuggestions = (message: string) => message.replace(/ ?Did you mean .+?\?/g, '');

function mapped(formatted: GraphQLFormattedError, error: unknown, log: (err: unknown) => void): GraphQLFormattedError {
  const unwrapped = error instanceof GraphQLError ? (error.originalError ?? error) : error;
  // A damaged store met by a subscription's stream after it began (a resolver's is mapped by StoreDamagedFilter).
  const original = unwrapped instanceof StoreDamagedError ? storeDamaged(unwrapped) : unwrapped;
  if (original instanceof DomainError) {
    return { message: original.message, path: formatted.path, locations: formatted.locations, extensions: { code: original.code, ...original.details } };
  }
  if (original instanceof HttpException) {
    const status = original.getStatus();
    const code = status === 400 ? 'BAD_USER_INPUT' : status === 401 ? 'UNAUTHENTICATED' : status === 403 ? 'FORBIDDEN' : status === 404 ? 'NOT_FOUND' : 'INTERNAL';
    return { message: original.message, path: formatted.path, locations: formatted.locations, extensions: { code } };
  }
  const argument = argumentError(original);
  if (argument) return { message: formatted.message, path: formatted.path, locations: formatted.locations, extensions: { code: 'BAD_USER_INPUT', field: argument } };
  const code = formatted.extensions?.code;
  if (typeof code === 'string' && GRAPHQL_CODES.has(code)) {
    // Variable coercion errors name the variable and the field ("Variable "$input" got invalid value ... at "input.ids"").
    const mapped = code === 'BAD_REQUEST' ? 'BAD_USER_INPUT' : code;
    const extensions: Record<string, unknown> = { code: mapped };
    for (const key of KEPT_EXTENSIONS) if (formatted.extensions?.[key] !== undefined) extensions[key] = formatted.extensions[key];
    return { message: formatted.message, locations: formatted.locations, path: formatted.path, extensions };
  }
  log(original);
  return { message: 'Internal server error', path: formatted.path, locations: formatted.locations, extensions: { code: 'INTERNAL' } };
}

/**
 * The argument named by GraphQL's own refusal of an argument value during execution (an explicit
 * null for a non-null argument with a default, a variable with no value): the caller's input, not
 * a fault of the server. graphql-js raises it itself, so it has no original error of its own.
 */
function argumentError(error: unknown): string | null {
  if (!(error instanceof GraphQLError) || error.originalError) return null;
  return /^Argument "([^"]+)" /.exec(error.message)?.[1] ?? null;
}
