import { Field, ID, InputType, Int, ObjectType } from '@nestjs/graphql';
import { ArrayMaxSize, IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { GraphQLDateTime } from 'graphql-scalars';
import { gqlEnum } from '../graphql/enums';
import { Capacity, MACHINE_ID } from '../machines/machine.types';
import { DRAIN_KINDS, DRAIN_MODES, DRAIN_STATUSES, DrainKind, DrainMode, DrainStatus, MIGRATION_TYPES, MigrationType, VM_MIGRATION_STATUSES, VmMigrationStatus } from './drain.rules';
import { VM_POWER, VM_TAG, VmPower } from './vm.decider';

export const DrainModeEnum = gqlEnum('DrainMode', DRAIN_MODES);
export const DrainKindEnum = gqlEnum('DrainKind', DRAIN_KINDS);
export const DrainStatusEnum = gqlEnum('DrainStatus', DRAIN_STATUSES);
export const VmMigrationStatusEnum = gqlEnum('VmMigrationStatus', VM_MIGRATION_STATUSES);
export const MigrationTypeEnum = gqlEnum('MigrationType', MIGRATION_TYPES);

/** The largest `maxConcurrent` a drain may ask for. */
export const MAX_CONCURRENT_LIMIT = 64;
const TAG_MESSAGE = 'each tag is 1-64 letters, digits and _ . : = / -, starting with a letter or digit';

@ObjectType()
export class VmMigration {
  @Field(() => Int) vmid!: number;
  @Field() name!: string;
  @Field(() => VmMigrationStatusEnum) status!: VmMigrationStatus;
  @Field(() => MigrationTypeEnum, { nullable: true, description: 'null for a VM skipped by the plan' }) migrationType!: MigrationType | null;
  @Field(() => ID) sourceNode!: string;
  @Field(() => ID, { nullable: true }) targetNode!: string | null;
  @Field(() => String, { nullable: true, description: 'why it failed, or why it was skipped' }) error!: string | null;
  @Field(() => [String]) tags!: string[];
  @Field(() => Boolean, { nullable: true, description: 'an always-on VM found stopped after its migration and started' }) restarted!: boolean | null;
  @Field(() => GraphQLDateTime, { nullable: true }) startedAt!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) finishedAt!: string | null;
}

@ObjectType()
export class Drain {
  @Field(() => ID) id!: string;
  @Field(() => ID) node!: string;
  @Field(() => DrainKindEnum) kind!: DrainKind;
  @Field(() => DrainModeEnum) mode!: DrainMode;
  @Field(() => DrainStatusEnum) status!: DrainStatus;
  @Field(() => Int) totalVMs!: number;
  @Field(() => Int) completedVMs!: number;
  @Field(() => Int) failedVMs!: number;
  @Field(() => Int) skippedVMs!: number;
  @Field(() => Int, { description: 'migrations running now' }) inFlight!: number;
  @Field(() => Int, { description: 'the most migrations that were running at once, as the log records them' }) peakInFlight!: number;
  @Field(() => [VmMigration], { description: 'every VM of the plan, in the order the drain takes them' }) vmStatus!: VmMigration[];
  @Field() parallel!: boolean;
  @Field(() => Int) maxConcurrent!: number;
  @Field() allowOffline!: boolean;
  @Field(() => ID, { nullable: true }) targetNode!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) deadline!: string | null;
  @Field(() => ID, { nullable: true, description: 'for an undrain: the drain it undoes' }) undoes!: string | null;
  @Field() requestedBy!: string;
  @Field(() => GraphQLDateTime) startedAt!: string;
  @Field(() => GraphQLDateTime, { nullable: true }) completedAt!: string | null;
  @Field() message!: string;
}

@ObjectType()
export class DrainProgress {
  @Field({ description: 'the event this message reports, or Snapshot for the first message' }) event!: string;
  @Field(() => GraphQLDateTime) at!: string;
  @Field(() => Drain, { description: 'the drain with its counters as they were right after the event' }) drain!: Drain;
  @Field(() => VmMigration, { nullable: true, description: 'the VM the event changed' }) vm!: VmMigration | null;
}

@ObjectType()
export class VmLastMigration {
  @Field(() => ID, { nullable: true }) drainId!: string | null;
  @Field(() => ID) from!: string;
  @Field(() => ID) to!: string;
  @Field(() => MigrationTypeEnum) migrationType!: MigrationType;
  @Field(() => GraphQLDateTime) at!: string;
}

@ObjectType()
export class VmOrphan {
  @Field({ description: 'PROCESS_GONE, SOCKET_FAILED or STAYS_UNHEALTHY' }) reason!: string;
  @Field() detail!: string;
  @Field(() => GraphQLDateTime) at!: string;
}

@ObjectType()
export class Vm {
  @Field(() => Int) vmid!: number;
  @Field() name!: string;
  @Field(() => ID) node!: string;
  @Field(() => [String]) tags!: string[];
  @Field(() => String, { description: '`running` or `stopped`' }) status!: VmPower;
  @Field(() => Int) cpuCores!: number;
  @Field(() => Int) memoryGiB!: number;
  @Field(() => VmLastMigration, { nullable: true }) lastMigration!: VmLastMigration | null;
  @Field({ description: 'as health checks last recorded it (true until probed otherwise)' }) healthy!: boolean;
  @Field(() => VmOrphan, { nullable: true, description: 'set while the VM is orphaned' }) orphaned!: VmOrphan | null;
  @Field({ description: 'automatic recovery gave up: a person is needed' }) needsIntervention!: boolean;
}

@ObjectType({ description: "A hypervisor node's maintenance mode and drains." })
export class NodeMaintenance {
  @Field() inMaintenance!: boolean;
  @Field(() => String, { nullable: true }) reason!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) since!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) endedAt!: string | null;
  @Field(() => ID, { nullable: true }) lastDrain!: string | null;
  @Field(() => DrainStatusEnum, { nullable: true }) drainStatus!: DrainStatus | null;
  @Field(() => ID, { nullable: true }) activeDrain!: string | null;
}

@ObjectType()
export class Node {
  @Field(() => ID) name!: string;
  @Field() inMaintenance!: boolean;
  @Field(() => String, { nullable: true }) reason!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) maintenanceStarted!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) maintenanceEnded!: string | null;
  @Field(() => Int) vmsOnNode!: number;
  @Field(() => ID, { nullable: true }) lastDrainId!: string | null;
  @Field(() => DrainStatusEnum, { nullable: true }) drainStatus!: DrainStatus | null;
  @Field(() => ID, { nullable: true }) activeDrainId!: string | null;
  @Field(() => Capacity, { nullable: true }) capacity!: Capacity | null;
  @Field(() => Capacity, { description: 'what the VMs on the node take' }) used!: Capacity;
  @Field({ description: 'whether the node can take VMs now (a migration target)' }) allocatable!: boolean;
}

@InputType()
export class StartDrainInput {
  @Field(() => ID) @IsString() @Matches(MACHINE_ID) node!: string;
  @Field(() => DrainModeEnum, { defaultValue: DrainModeEnum.SOFT }) @IsIn(DRAIN_MODES) drainMode!: DrainMode;
  @Field({ defaultValue: true, description: 'false: one migration at a time' }) @IsBoolean() parallel!: boolean;
  @Field(() => Int, { nullable: true, description: `migrations at once when parallel, 1..${MAX_CONCURRENT_LIMIT}; default from the site config (3)` })
  @IsOptional()
  @IsInt()
  @Min(1, { message: `maxConcurrent must be between 1 and ${MAX_CONCURRENT_LIMIT}` })
  @Max(MAX_CONCURRENT_LIMIT, { message: `maxConcurrent must be between 1 and ${MAX_CONCURRENT_LIMIT}` })
  maxConcurrent?: number | null;
  @Field({ defaultValue: false, description: 'untagged VMs may migrate offline' }) @IsBoolean() allowOffline!: boolean;
  @Field(() => ID, { nullable: true, description: 'pin every migration to this node' }) @IsOptional() @IsString() @Matches(MACHINE_ID) targetNode?: string | null;
  @Field(() => GraphQLDateTime, { nullable: true, description: 'no migration starts after this; the drain then ends FAILED' }) @IsOptional() deadline?: Date | null;
  @Field(() => String, { nullable: true, description: 'the same requestId on the same node returns the same drain' }) @IsOptional() @IsString() @MinLength(1) @MaxLength(128) requestId?: string | null;
}

@InputType()
export class EnableNodeMaintenanceInput {
  @Field(() => ID) @IsString() @Matches(MACHINE_ID) node!: string;
  @Field() @IsString() @MinLength(1) @MaxLength(500) reason!: string;
  @Field({ defaultValue: false, description: 'also start a drain of the node' }) @IsBoolean() drain!: boolean;
  @Field(() => DrainModeEnum, { defaultValue: DrainModeEnum.SOFT, description: 'the mode of that drain' }) @IsIn(DRAIN_MODES) drainMode!: DrainMode;
}

@InputType()
export class DisableNodeMaintenanceInput {
  @Field(() => ID) @IsString() @Matches(MACHINE_ID) node!: string;
  @Field({ defaultValue: false, description: "also move back the VMs the node's last drain moved away" }) @IsBoolean() undrain!: boolean;
}

@InputType()
export class CreateVmInput {
  @Field(() => Int) @IsInt() @Min(1) @Max(999_999_999) vmid!: number;
  @Field() @IsString() @MinLength(1) @MaxLength(128) name!: string;
  @Field(() => ID) @IsString() @Matches(MACHINE_ID) node!: string;
  @Field(() => [String], { defaultValue: [] }) @ArrayMaxSize(32) @IsString({ each: true }) @Matches(VM_TAG, { each: true, message: TAG_MESSAGE }) tags!: string[];
  @Field(() => String, { defaultValue: 'running', description: '`running` or `stopped`' }) @IsIn(VM_POWER, { message: 'status must be running or stopped' }) status!: VmPower;
  @Field(() => Int) @IsInt() @Min(1) @Max(1024) cpuCores!: number;
  @Field(() => Int) @IsInt() @Min(1) @Max(65_536) memoryGiB!: number;
}

@InputType()
export class VmFilter {
  @Field(() => [String], { nullable: true, description: 'VMs carrying all these tags' }) @IsOptional() @ArrayMaxSize(32) @IsString({ each: true }) tags?: string[] | null;
  @Field(() => ID, { nullable: true }) @IsOptional() @IsString() node?: string | null;
  @Field(() => String, { nullable: true, description: '`running` or `stopped`' }) @IsOptional() @IsIn(VM_POWER) status?: VmPower | null;
}

@InputType()
export class DrainFilter {
  @Field(() => ID, { nullable: true }) @IsOptional() @IsString() node?: string | null;
  @Field(() => DrainStatusEnum, { nullable: true }) @IsOptional() status?: DrainStatus | null;
  @Field(() => DrainKindEnum, { nullable: true }) @IsOptional() kind?: DrainKind | null;
}
