import { Field, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Type } from 'class-transformer';
import { IsIn, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateNested } from 'class-validator';
import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { gqlEnum } from '../graphql/enums';
import { MACHINE_ID } from '../machines/machine.types';
import { DB_TYPES, DbType, ISSUE_CATEGORIES, IssueCategory } from './instance.decider';

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
export class ProvisioningStepRecord {
  @Field() name!: string;
  @Field() detail!: string;
  @Field(() => GraphQLDateTime) at!: string;
}

@ObjectType({ description: 'One try at provisioning an instance, and how it ended.' })
export class ProvisioningAttemptView {
  @Field(() => ID) id!: string;
  @Field(() => Int) number!: number;
  @Field({ description: 'PENDING, IN_PROGRESS, SUCCEEDED or FAILED' }) status!: string;
  @Field(() => [ProvisioningStepRecord]) steps!: ProvisioningStepRecord[];
  @Field(() => String, { nullable: true }) error!: string | null;
  @Field(() => Boolean, { nullable: true, description: 'whether the deployment was removed after a failure' }) deploymentRemoved!: boolean | null;
  @Field(() => GraphQLDateTime, { nullable: true }) startedAt!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) finishedAt!: string | null;
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
  @Field(() => String, { nullable: true, description: '`shared` or `dedicated`; null without provisioning' }) dbType!: string | null;
  @Field(() => String, { nullable: true, description: 'the database kept for this instance (credentials: instanceCredentials)' }) databaseId!: string | null;
  @Field(() => [ProvisioningAttemptView]) provisioningAttempts!: ProvisioningAttemptView[];
  @Field(() => Int, { description: 'provisioning attempts after the first' }) retries!: number;
}

@ObjectType()
export class ProvisioningRetry {
  @Field(() => ID, { description: 'the new provisioning attempt' }) attemptId!: string;
  @Field(() => Instance) instance!: Instance;
}

@ObjectType({ description: "An instance's database credentials, fetched from the database service when asked; never stored by Drydock." })
export class InstanceCredentials {
  @Field() databaseId!: string;
  @Field() host!: string;
  @Field(() => Int) port!: number;
  @Field() username!: string;
  @Field() password!: string;
}

@InputType()
export class CreateInstanceInput {
  @Field(() => ID, { nullable: true }) @IsOptional() @IsString() @Matches(MACHINE_ID, { message: 'machineId is 1-63 letters, digits, _ . -' }) machineId?: string | null;
  @Field(() => String, { defaultValue: 'shared', description: '`shared` or `dedicated`' }) @IsIn(DB_TYPES, { message: 'dbType must be shared or dedicated' }) dbType!: DbType;
  @Field({ description: 'Idempotency key: the same request again returns the same instance.' }) @IsString() @MinLength(1) @MaxLength(128) requestId!: string;
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
