import { GraphQLDateTime } from 'graphql-scalars';
import { Args, Context, Field, ID, InputType, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { gqlEnum } from '../graphql/enums';
import { CommandBus } from '@nestjs/cqrs';
import { IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { randomUUID } from 'node:crypto';
import { Allow } from '../graphql/roles';
import { commandContext, GqlContext } from '../graphql/request-context';
import { DecideCommand } from '../messaging/decide.command';
import { NotFoundError } from '../messaging/domain-errors';
import { ProjectionsService } from '../messaging/projections.service';
import { apiKeyDecider, apiKeyStream } from './api-key.decider';
import { generateKey, hashKey } from './api-keys.service';
import { Role, ROLES } from './principal';

export const RoleEnum = gqlEnum('Role', ROLES);

@InputType()
export class CreateApiKeyInput {
  @Field(() => RoleEnum) @IsIn(ROLES) role!: Role;
  @Field(() => String, { nullable: true })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { message: 'tenantId is 1-63 letters, digits, _ . -' })
  tenantId?: string | null;
  @Field() @IsString() @MinLength(1) @MaxLength(100) name!: string;
}

@ObjectType({ description: 'A new API key; `key` is shown this once and never stored.' })
export class CreatedApiKey {
  @Field(() => ID) id!: string;
  @Field() key!: string;
  @Field(() => RoleEnum) role!: Role;
  @Field(() => String, { nullable: true }) tenantId!: string | null;
  @Field() name!: string;
}

@ObjectType()
export class ApiKey {
  @Field(() => ID) id!: string;
  @Field(() => RoleEnum) role!: Role;
  @Field(() => String, { nullable: true }) tenantId!: string | null;
  @Field() name!: string;
  @Field(() => GraphQLDateTime) createdAt!: string;
  @Field() createdBy!: string;
  @Field(() => GraphQLDateTime, { nullable: true }) revokedAt!: string | null;
}

@Resolver()
export class ApiKeysResolver {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ProjectionsService,
  ) {}

  @Allow('ADMIN')
  @Mutation(() => CreatedApiKey)
  async createApiKey(@Args('input') input: CreateApiKeyInput, @Context() ctx: GqlContext): Promise<CreatedApiKey> {
    const id = randomUUID();
    const key = generateKey();
    const context = commandContext(ctx);
    const tenantId = input.tenantId ?? null;
    const outcome = await this.bus.execute(
      new DecideCommand(apiKeyDecider, apiKeyStream(id), { type: 'CreateApiKey', id, hash: hashKey(key), role: input.role, tenantId, name: input.name, at: context.issuedAt }, context),
    );
    await this.read.waitFor(['api_keys'], outcome.position);
    return { id, key, role: input.role, tenantId, name: input.name };
  }

  @Allow('ADMIN')
  @Mutation(() => ApiKey, { description: 'Revokes a key at once; its open WebSockets are closed.' })
  async revokeApiKey(@Args('id', { type: () => ID }) id: string, @Context() ctx: GqlContext): Promise<ApiKey> {
    const context = commandContext(ctx);
    const outcome = await this.bus.execute(new DecideCommand(apiKeyDecider, apiKeyStream(id), { type: 'RevokeApiKey', id, reason: null, at: context.issuedAt }, context));
    await this.read.waitFor(['api_keys'], outcome.position);
    const doc = await this.read.findOne('api_keys', { _id: id });
    if (!doc) throw new NotFoundError(`API key ${id} not found`);
    return doc as unknown as ApiKey;
  }

  @Allow('ADMIN')
  @Query(() => [ApiKey])
  async apiKeys(): Promise<ApiKey[]> {
    return (await this.read.find('api_keys', {}, { sort: { createdAt: 1 } })) as unknown as ApiKey[];
  }
}
