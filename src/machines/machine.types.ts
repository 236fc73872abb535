import { Field, ID, InputType, Int, ObjectType } from '@nestjs/graphql';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { gqlEnum } from '../graphql/enums';
import { MACHINE_LABEL_VALUE_MAX, MAX_LABEL_BYTES, MAX_LABELS } from './labels';
import { MACHINE_PHASES, MachinePhase } from './machine.decider';
import { CONDITION_TYPES, ConditionType, EFFECTIVE_STATES, EffectiveState } from './machine.rules';

export const MachinePhaseEnum = gqlEnum('MachinePhase', MACHINE_PHASES);
export const EffectiveStateEnum = gqlEnum('EffectiveState', EFFECTIVE_STATES);
export const ConditionTypeEnum = gqlEnum('ConditionType', CONDITION_TYPES);

export const MACHINE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

const LABEL_MAP = `label keys (1-63 letters, digits, _ . / -) to string values of at most ${MACHINE_LABEL_VALUE_MAX} characters; at most ${MAX_LABELS} labels and ${MAX_LABEL_BYTES} bytes`;

@ObjectType()
export class Condition {
  @Field(() => ConditionTypeEnum) type!: ConditionType;
  @Field() status!: boolean;
  @Field(() => String, { nullable: true }) reason!: string | null;
  @Field(() => GraphQLDateTime) since!: string;
}

@ObjectType()
export class Capacity {
  @Field(() => Int) cpuCores!: number;
  @Field(() => Int) memoryGiB!: number;
}

@ObjectType()
export class HealthOverrideIssue {
  @Field() category!: string;
  @Field() summary!: string;
  @Field(() => String, { nullable: true }) details!: string | null;
  @Field(() => String, { nullable: true }) tenantId!: string | null;
}

@ObjectType()
export class HealthOverride {
  @Field() source!: string;
  @Field() template!: string;
  @Field(() => [String]) classifications!: string[];
  @Field() message!: string;
  @Field(() => HealthOverrideIssue, { nullable: true }) issue!: HealthOverrideIssue | null;
  @Field() addedBy!: string;
  @Field(() => GraphQLDateTime) addedAt!: string;
}

@ObjectType()
export class Machine {
  @Field(() => ID) id!: string;
  @Field(() => MachinePhaseEnum) phase!: MachinePhase;
  @Field(() => EffectiveStateEnum) effectiveState!: EffectiveState;
  @Field(() => [Condition]) conditions!: Condition[];
  @Field(() => GraphQLJSON) labels!: Record<string, string>;
  @Field(() => [HealthOverride]) healthOverrides!: HealthOverride[];
  @Field() allocatable!: boolean;
  @Field(() => ID, { nullable: true }) instance!: string | null;
  @Field(() => ID, { nullable: true }) activeOperation!: string | null;
  @Field() hypervisor!: boolean;
  @Field(() => Capacity, { nullable: true }) capacity!: Capacity | null;
  @Field(() => Int, { description: 'Repair cycles this machine has been through' }) repairCycles!: number;
  @Field(() => Int, { description: 'Issues reported soon after a completed repair' }) repeatIssuesAfterRepair!: number;
  @Field(() => Int, { description: 'The revision of the machine stream this view reflects' }) revision!: number;
}

@ObjectType()
export class PageInfo {
  @Field(() => String, { nullable: true }) endCursor!: string | null;
  @Field() hasNextPage!: boolean;
}

@ObjectType()
export class MachineConnection {
  @Field(() => [Machine]) nodes!: Machine[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
  @Field(() => Int) totalCount!: number;
}

@InputType()
export class CapacityInput {
  @Field(() => Int) @IsInt() @Min(1) @Max(4096) cpuCores!: number;
  @Field(() => Int) @IsInt() @Min(1) @Max(65536) memoryGiB!: number;
}

@InputType()
export class RegisterMachinesInput {
  @Field(() => [ID])
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @ArrayUnique()
  @IsString({ each: true })
  @Matches(MACHINE_ID, { each: true, message: 'each id is 1-63 letters, digits, _ . - starting with a letter or digit' })
  ids!: string[];

  @Field(() => MachinePhaseEnum, { defaultValue: MachinePhaseEnum.FACTORY_READY })
  @IsIn([MachinePhaseEnum.FACTORY_READY, MachinePhaseEnum.READY], { message: 'phase must be FACTORY_READY or READY at registration' })
  phase!: MachinePhase;

  @Field({ defaultValue: false }) @IsBoolean() hypervisor!: boolean;

  @Field(() => CapacityInput, { nullable: true })
  @IsOptional()
  @ValidateNested()
  @Type(() => CapacityInput)
  capacity?: CapacityInput | null;

  @Field(() => GraphQLJSON, { nullable: true, description: LABEL_MAP }) @IsOptional() @IsObject() labels?: Record<string, string> | null;
}

@InputType()
export class MachineFilter {
  @Field(() => MachinePhaseEnum, { nullable: true }) @IsOptional() phase?: MachinePhase;
  @Field(() => EffectiveStateEnum, { nullable: true }) @IsOptional() effectiveState?: EffectiveState;
  @Field(() => ConditionTypeEnum, { nullable: true, description: 'machines where this condition is true' })
  @IsOptional()
  condition?: ConditionType;
  @Field(() => GraphQLJSON, { nullable: true, description: 'machines carrying all these labels: label keys (no dot) to string values, no operators' })
  @IsOptional()
  @IsObject()
  labels?: Record<string, unknown>;
  @Field({ nullable: true }) @IsOptional() @IsBoolean() hypervisor?: boolean;
  @Field({ nullable: true }) @IsOptional() @IsBoolean() allocatable?: boolean;
}

@InputType()
export class SetMachineLabelsInput {
  @Field(() => ID) @IsString() @Matches(MACHINE_ID) machineId!: string;
  @Field(() => GraphQLJSON, { description: LABEL_MAP }) @IsObject() labels!: Record<string, string>;
  @Field({ nullable: true }) @IsOptional() @IsString() @MaxLength(128) requestId?: string;
}

/** The API's view of a `machines` document: the read model keeps conditions by type, the API lists them. */
export function machineView(doc: object): Machine {
  const c = (doc as { conditions?: Record<string, Condition> | Condition[] }).conditions;
  return { ...doc, conditions: Array.isArray(c) ? c : Object.values(c ?? {}) } as unknown as Machine;
}
