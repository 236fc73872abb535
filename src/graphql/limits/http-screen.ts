import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OperationLimits } from './operation-limits';

type Request = IncomingMessage & { body?: unknown; query?: unknown };

/**
 * The HTTP door's first check: a document's text over the token or nesting limit is refused
 * before Apollo's recursive parser sees it, in GraphQL's shape (`GRAPHQL_PARSE_FAILED`, HTTP 400).
 * Installed on /graphql after the body parser.
 */
export function httpScreen(limits: OperationLimits) {
  return (req: Request, res: ServerResponse, next: () => void): void => {
    const source = queryOf(req.body) ?? queryOf(req.query);
    const refusal = source === null ? null : limits.screen(source);
    if (!refusal) return next();
    res.writeHead(400, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ errors: [{ message: refusal.message, extensions: { code: refusal.extensions.code, limit: refusal.extensions.limit, max: refusal.extensions.max } }] }));
  };
}

function queryOf(carrier: unknown): string | null {
  return typeof carrier === 'object' && carrier !== null && 'query' in carrier && typeof carrier.query === 'string' ? carrier.query : null;
}
