import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { actorOf, Principal } from '../access/principal';
import { CommandContext } from '../messaging/command-pipeline';

/** What every resolver gets: the caller and the correlation id of the request. */
export interface GqlContext {
  req?: IncomingMessage & { id?: string };
  correlationId: string;
  principal: Principal | null;
  /** Set by a resolver whose command continues an earlier event (a claim continues the repair request). */
  causationId?: string | null;
}

export type Authenticate = (authorization: unknown) => Promise<Principal | null>;

/** Builds the context of an HTTP request, or of an operation on a graphql-ws connection. */
export function contextBuilder(authenticate: Authenticate) {
  return async (args: {
    req?: IncomingMessage & { id?: string };
    connectionParams?: Record<string, unknown>;
    extra?: { request?: IncomingMessage };
  }): Promise<GqlContext> => {
    const req = args.req ?? (args.extra?.request as GqlContext['req']);
    const correlationId = typeof req?.id === 'string' ? req.id : randomUUID();
    const authorization = args.connectionParams ? args.connectionParams.authorization : req?.headers.authorization;
    return { req, correlationId, principal: await authenticate(authorization) };
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
