import { Field, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { gqlEnum } from '../graphql/enums';
import { OperationType, STAGES } from '../machines/machine.decider';
import { MACHINE_ID } from '../machines/machine.types';

export const OperationTypeEnum = gqlEnum('OperationType', Object.keys(STAGES) as OperationType[]);
export enum OperationPhaseEnum {
  PENDING = 'PENDING',
  RUNNING = 'RUNNING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
  CANCELED = 'CANCELED',
}
registerEnumType(OperationPhaseEnum, { name: 'OperationPhase' });

@ObjectType()
export class OperationStage {
  @Field() name!: string;
  @Field(() => OperationPhaseEnum) phase!: OperationPhaseEnum;
  @Field(() => Int) attempts!: number;
  @Field(() => GraphQLDateTime, { nullable: true }) startedAt!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) finishedAt!: string | null;
  @Field(() => String, { nullable: true }) error!: string | null;
}

@ObjectType()
export class Operation {
  @Field(() => ID) id!: string;
  @Field(() => ID) machineId!: string;
  @Field(() => OperationTypeEnum) type!: OperationType;
  @Field(() => OperationPhaseEnum) phase!: OperationPhaseEnum;
  @Field(() => String, { nullable: true }) currentStage!: string | null;
  @Field(() => GraphQLJSON) params!: Record<string, unknown>;
  @Field(() => String, { nullable: true }) error!: string | null;
  @Field() requestId!: string;
  @Field() requestedBy!: string;
  @Field(() => GraphQLDateTime) createdAt!: string;
  @Field(() => GraphQLDateTime) updatedAt!: string;
  @Field(() => [OperationStage]) stages!: OperationStage[];
}

@ObjectType()
export class OperationConnection {
  @Field(() => [Operation]) nodes!: Operation[];
  @Field(() => Int) totalCount!: number;
  @Field(() => String, { nullable: true }) endCursor!: string | null;
  @Field() hasNextPage!: boolean;
}

@ObjectType({ description: 'A change of an operation: its phase or one of its stages.' })
export class OperationEvent {
  @Field() event!: string;
  @Field(() => String, { nullable: true }) stage!: string | null;
  @Field(() => GraphQLDateTime) at!: string;
  @Field(() => Operation) operation!: Operation;
}

@ObjectType()
export class OperationLogLine {
  @Field(() => ID) operationId!: string;
  @Field() stage!: string;
  @Field() line!: string;
  @Field(() => GraphQLDateTime) at!: string;
}

@InputType()
export class OperationRequestInput {
  @Field(() => ID) @IsString() @Matches(MACHINE_ID, { message: 'machineId is 1-63 letters, digits, _ . -' }) machineId!: string;
  @Field({ description: 'Idempotency key: the same request again returns the same operation.' })
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  requestId!: string;
}

@InputType()
export class ReimageInput extends OperationRequestInput {
  @Field() @IsString() @MinLength(1) @MaxLength(512) imageRef!: string;
}

@InputType()
export class EnterMaintenanceInput extends OperationRequestInput {
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(512) reason?: string | null;
}

@InputType()
export class OperationFilter {
  @Field(() => ID, { nullable: true }) @IsOptional() @IsString() machineId?: string;
  @Field(() => OperationTypeEnum, { nullable: true }) @IsOptional() @IsIn(Object.values(OperationTypeEnum)) type?: OperationType;
  @Field(() => OperationPhaseEnum, { nullable: true }) @IsOptional() @IsIn(Object.values(OperationPhaseEnum)) phase?: OperationPhaseEnum;
}
