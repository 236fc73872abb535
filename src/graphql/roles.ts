import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import { Role } from '../access/principal';
import { ForbiddenError, UnauthenticatedError } from '../messaging/domain-errors';
import { GqlContext } from './request-context';

const ALLOW = 'drydock:allow';

/** The roles that may call a query, mutation or subscription. Without it, nobody may: deny by default. */
export const Allow = (...roles: Role[]) => SetMetadata(ALLOW, roles);

/** Every GraphQL operation needs a key (UNAUTHENTICATED) whose role the resolver allows (FORBIDDEN). */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType<'graphql' | 'http'>() !== 'graphql') return true; // probes and the IDE are public
    const ctx = GqlExecutionContext.create(context);
    const info = ctx.getInfo<{ parentType: { name: string } }>();
    // Field resolvers of object types inherit the decision made at the root field.
    if (!['Query', 'Mutation', 'Subscription'].includes(info.parentType.name)) return true;
    const principal = ctx.getContext<GqlContext>().principal;
    if (!principal) throw new UnauthenticatedError('an API key is required: Authorization: Bearer <key>');
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ALLOW, [context.getHandler(), context.getClass()]);
    if (!roles?.includes(principal.role)) throw new ForbiddenError(`role ${principal.role} may not do this`);
    return true;
  }
}
