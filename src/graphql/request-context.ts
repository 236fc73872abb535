import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { actorOf, Principal } from '../access/principal';
import type { RateLimited } from '../access/rate-limiter';
import { rateLimitedError } from './limits/limit-error';
import { CommandContext } from '../messaging/command-pipeline';

/** What every resolver gets: the caller and the correlation id of the request. */
export interface GqlContext {
  req?: IncomingMessage;
  correlationId: string;
  principal: Principal | null;
  /** Set by a resolver whose command continues an earlier event (a claim continues the repair request). */
  causationId?: string | null;
}

export type Authenticate = (authorization: unknown) => Promise<Principal | null>;

/** Spends one operation of the caller's rate limit: null when it may go on, else the refusal. */
export type Admit = (principal: Principal | null, address: string | undefined) => Promise<RateLimited | null>;

/**
 * Builds the context of an operation: an HTTP request, or one operation on a graphql-ws
 * connection. Every operation spends one point of its caller's rate limit here, before its
 * document is parsed; over the limit, the RATE_LIMITED refusal is thrown.
 */
export function contextBuilder(authenticate: Authenticate, admit: Admit) {
  return async (args: { req?: IncomingMessage; connectionParams?: Readonly<Record<string, unknown>>; extra?: { request?: IncomingMessage } }): Promise<GqlContext> => {
    const req = args.req ?? args.extra?.request;
    const correlationId = typeof req?.id === 'string' ? req.id : randomUUID();
    const authorization = args.connectionParams ? args.connectionParams.authorization : req?.headers.authorization;
    const principal = await authenticate(authorization);
    const limited = await admit(principal, req?.socket.remoteAddress);
    if (limited) throw rateLimitedError(limited);
    return { req, correlationId, principal };
  };
}

/** The command context of a mutation: who (the principal), why (the request's correlation id), and when. */
export function commandContext(ctx: GqlContext, requestId?: string | null): CommandContext {
  return {
    actor: ctx.principal ? actorOf(ctx.principal) : 'anonymous',
    correlationId: ctx.correlationId,
    causationId: ctx.causationId ?? null,
    requestId: requestId ?? null,
    issuedAt: new Date().toISOString(),
  };
}
