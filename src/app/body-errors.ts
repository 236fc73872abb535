import type { IncomingMessage, ServerResponse } from 'node:http';

/** An Express error handler, in Node's own types. */
type ErrorHandler = (err: unknown, req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** What body-parser says of a body it refused (its `type`), and what that is for a GraphQL client. */
const REFUSALS: Record<string, { status: number; code: string; message: (limit: string) => string }> = {
  'entity.too.large': { status: 413, code: 'PAYLOAD_TOO_LARGE', message: (limit) => `the request body is over the limit of ${limit} (graphql.body_limit)` },
  'entity.parse.failed': { status: 400, code: 'BAD_USER_INPUT', message: () => 'the request body is not valid JSON' },
  'entity.verify.failed': { status: 400, code: 'BAD_USER_INPUT', message: () => 'the request body could not be read' },
  'request.aborted': { status: 400, code: 'BAD_USER_INPUT', message: () => 'the request was aborted before its body arrived' },
  'request.size.invalid': { status: 400, code: 'BAD_USER_INPUT', message: () => 'the request body is shorter or longer than its content-length' },
  'encoding.unsupported': { status: 415, code: 'BAD_USER_INPUT', message: () => 'the request body has a content-encoding this server does not read' },
  'charset.unsupported': { status: 415, code: 'BAD_USER_INPUT', message: () => 'the request body has a charset this server does not read (use utf-8)' },
};

/**
 * A body the JSON parser refused is answered as GraphQL answers a refusal: `{ errors: [...] }`
 * with a code (`PAYLOAD_TOO_LARGE`, or `BAD_USER_INPUT` naming the body), never the framework's
 * own shape. Installed right after the body parser, so it sees only the parser's errors.
 */
export function bodyErrors(limit: string): ErrorHandler {
  return (err: unknown, _req, res, next) => {
    const type = typeof err === 'object' && err !== null && 'type' in err && typeof err.type === 'string' ? err.type : null;
    const refusal = type ? REFUSALS[type] : undefined;
    if (!refusal || res.headersSent) return next(err);
    res.writeHead(refusal.status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ errors: [{ message: refusal.message(limit), extensions: { code: refusal.code, field: 'body' } }] }));
  };
}
