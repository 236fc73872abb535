import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { CommandContext } from '../messaging/command-pipeline';

/** What every resolver gets: the caller and the correlation id of the request. */
export interface GqlContext {
  req?: IncomingMessage & { id?: string };
  correlationId: string;
  actor: string;
}

export function buildContext(args: { req?: IncomingMessage & { id?: string }; extra?: { request?: IncomingMessage } }): GqlContext {
  const req = args.req ?? (args.extra?.request as GqlContext['req']);
  const correlationId = typeof req?.id === 'string' ? req.id : randomUUID();
  return { req, correlationId, actor: 'anonymous' };
}

/** The command context of a mutation: who, why (the request's correlation id), and when. */
export function commandContext(ctx: GqlContext, requestId?: string | null): CommandContext {
  return { actor: ctx.actor, correlationId: ctx.correlationId, causationId: null, requestId: requestId ?? null, issuedAt: new Date().toISOString() };
}
