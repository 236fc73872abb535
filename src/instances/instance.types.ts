import { Field, ID, InputType, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Type } from 'class-transformer';
import { IsIn, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateNested } from 'class-validator';
import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { gqlEnum } from '../graphql/enums';
import { MACHINE_ID } from '../machines/machine.types';
import { ISSUE_CATEGORIES, IssueCategory } from './instance.decider';

export const IssueCategoryEnum = gqlEnum('IssueCategory', ISSUE_CATEGORIES);
export enum InstanceStatusEnum {
  CREATING = 'CREATING',
  READY = 'READY',
  ERROR = 'ERROR',
  RELEASED = 'RELEASED',
}
export enum ProvisioningStatusEnum {
  PENDING = 'PENDING',
  PROVISIONING = 'PROVISIONING',
  READY = 'READY',
  FAILED = 'FAILED',
}
registerEnumType(InstanceStatusEnum, { name: 'InstanceStatus' });
registerEnumType(ProvisioningStatusEnum, { name: 'ProvisioningStatus' });

@ObjectType()
export class IssueReport {
  @Field(() => IssueCategoryEnum) category!: IssueCategory;
  @Field() summary!: string;
  @Field(() => String, { nullable: true }) details!: string | null;
}

@ObjectType()
export class Instance {
  @Field(() => ID) id!: string;
  @Field() tenantId!: string;
  @Field(() => ID) machineId!: string;
  @Field(() => InstanceStatusEnum) status!: InstanceStatusEnum;
  @Field(() => ProvisioningStatusEnum) provisioningStatus!: ProvisioningStatusEnum;
  @Field(() => String, { nullable: true }) errorMessage!: string | null;
  @Field(() => GraphQLJSON) labels!: Record<string, string>;
  @Field(() => IssueReport, { nullable: true }) issue!: IssueReport | null;
  @Field(() => GraphQLDateTime) createdAt!: string;
  @Field(() => GraphQLDateTime, { nullable: true }) releasedAt!: string | null;
}

@InputType()
export class AllocateInstanceInput {
  @Field(() => ID, { nullable: true }) @IsOptional() @IsString() @Matches(MACHINE_ID, { message: 'machineId is 1-63 letters, digits, _ . -' }) machineId?: string | null;
  @Field({ description: 'Idempotency key: the same request again returns the same instance.' }) @IsString() @MinLength(1) @MaxLength(128) requestId!: string;
}

@InputType()
export class IssueInput {
  @Field(() => IssueCategoryEnum) @IsIn(ISSUE_CATEGORIES) category!: IssueCategory;
  @Field() @IsString() @MinLength(1, { message: 'summary is required' }) @MaxLength(200) summary!: string;
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(4000) details?: string | null;
}

@InputType()
export class ReleaseInstanceInput {
  @Field(() => ID) @IsString() @MaxLength(128) id!: string;
  @Field(() => IssueInput, { nullable: true }) @IsOptional() @ValidateNested() @Type(() => IssueInput) issue?: IssueInput | null;
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(128) requestId?: string | null;
}

@InputType()
export class InstanceFilter {
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() tenantId?: string;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsString() machineId?: string;
  @Field(() => InstanceStatusEnum, { nullable: true }) @IsOptional() @IsIn(Object.values(InstanceStatusEnum)) status?: InstanceStatusEnum;
}
