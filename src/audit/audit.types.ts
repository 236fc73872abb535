import { Field, Float, ID, InputType, Int, ObjectType } from '@nestjs/graphql';
import { ArrayMaxSize, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { PositionScalar } from '../graphql/scalars';

@ObjectType()
export class EventMetadataView {
  @Field() actor!: string;
  @Field() correlationId!: string;
  @Field(() => String, { nullable: true }) causationId!: string | null;
  @Field(() => String, { nullable: true }) requestId!: string | null;
  @Field(() => GraphQLDateTime) occurredAt!: string;
  @Field(() => Int) schemaVersion!: number;
  @Field(() => String, { nullable: true, description: 'SHA-256 over this event and prevHash (tamper evidence)' }) hash!: string | null;
  @Field(() => String, { nullable: true, description: 'the hash of the previous event in the stream' }) prevHash!: string | null;
  @Field(() => Int, { nullable: true, description: 'what the hash covers: 3 also the time recorded and the position (the embedded store), 2 also the time (EventStoreDB); none: events chained before versions were recorded' }) hashVersion!: number | null;
}

@ObjectType('RecordedEvent')
export class RecordedEventView {
  @Field(() => ID) id!: string;
  @Field() stream!: string;
  @Field(() => Int) revision!: number;
  @Field(() => PositionScalar) position!: number;
  @Field() type!: string;
  @Field(() => GraphQLJSON) data!: Record<string, unknown>;
  @Field(() => EventMetadataView) metadata!: EventMetadataView;
  @Field(() => GraphQLDateTime) recordedAt!: string;
}

@ObjectType()
export class EventPageInfo {
  @Field(() => PositionScalar, { nullable: true }) startCursor!: number | null;
  @Field(() => PositionScalar, { nullable: true }) endCursor!: number | null;
  @Field({ description: 'more events after endCursor (forwards) or before startCursor (backwards)' }) hasMore!: boolean;
}

@ObjectType()
export class EventConnection {
  @Field(() => [RecordedEventView]) nodes!: RecordedEventView[];
  @Field(() => EventPageInfo) pageInfo!: EventPageInfo;
}

@InputType()
export class EventFilter {
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(200) stream?: string | null;
  @Field(() => String, { nullable: true, description: 'machine, instance, drain, vm, operation...' }) @IsOptional() @IsString() @Matches(/^[a-z]{1,40}$/) category?: string | null;
  @Field(() => [String], { nullable: true }) @IsOptional() @ArrayMaxSize(50) @IsString({ each: true }) types?: string[] | null;
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(200) correlationId?: string | null;
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() @MaxLength(300) actor?: string | null;
  @Field(() => GraphQLDateTime, { nullable: true, description: 'recorded at or after' }) @IsOptional() from?: Date | null;
  @Field(() => GraphQLDateTime, { nullable: true, description: 'recorded before' }) @IsOptional() to?: Date | null;
}

@ObjectType({ description: 'One event of a cause chain, with its place in the tree.' })
export class CausedEvent {
  @Field(() => RecordedEventView) event!: RecordedEventView;
  @Field(() => ID, { nullable: true, description: 'the event that caused this one (its parent in the tree)' }) parentId!: string | null;
  @Field(() => Int, { description: 'distance from the first cause (0)' }) depth!: number;
}

@ObjectType({ description: 'The events before and after one event: the chain back to the first cause, and everything it caused.' })
export class CausationChain {
  @Field(() => ID) eventId!: string;
  @Field(() => ID, { description: 'the first cause: the ancestor with no recorded cause' }) rootId!: string;
  @Field(() => [CausedEvent], { description: 'from the first cause down to the event itself' }) ancestors!: CausedEvent[];
  @Field(() => [CausedEvent], { description: 'every event caused directly or transitively by the event, depth first, in log order among siblings' }) descendants!: CausedEvent[];
  @Field({ description: 'true when the tree was cut at the size limit' }) truncated!: boolean;
}

@ObjectType()
export class ChainBreakView {
  @Field(() => Int) revision!: number;
  @Field(() => ID) eventId!: string;
  @Field({ description: 'MISSING_HASH, UNKNOWN_HASH_VERSION, CONTENT_CHANGED, PREVIOUS_HASH_MISMATCH, REVISION_GAP, POSITION_OUT_OF_RANGE (at a position no store assigns, below 1) or POSITION_OUT_OF_ORDER (at a position before the previous revision\'s)' }) reason!: string;
  @Field() detail!: string;
}

@ObjectType({ description: 'The hash chain of a stream, recomputed from its events.' })
export class StreamVerification {
  @Field() stream!: string;
  @Field() ok!: boolean;
  @Field(() => Int, { description: 'events checked (up to and including the first break)' }) checked!: number;
  @Field(() => String, { nullable: true, description: 'the hash of the last event verified' }) lastHash!: string | null;
  @Field(() => ChainBreakView, { nullable: true }) firstBreak!: ChainBreakView | null;
}

@ObjectType({ description: 'A machine as it was at a past moment or revision, folded from its log by the same evolve as the live state.' })
export class MachineAt {
  @Field(() => ID) id!: string;
  @Field(() => Int, { description: 'the last revision included' }) revision!: number;
  @Field(() => GraphQLDateTime, { description: 'when that revision was recorded' }) recordedAt!: string;
  @Field() phase!: string;
  @Field() effectiveState!: string;
  @Field() allocatable!: boolean;
  @Field(() => String, { nullable: true, description: 'why it was not allocatable then' }) notAllocatableBecause!: string | null;
  @Field(() => GraphQLJSON) labels!: Record<string, string>;
  @Field(() => GraphQLJSON, { description: 'conditions by type' }) conditions!: Record<string, unknown>;
  @Field(() => GraphQLJSON, { description: 'health overrides by source, with who added them and why' }) healthOverrides!: Record<string, unknown>;
  @Field(() => ID, { nullable: true }) instance!: string | null;
  @Field(() => ID, { nullable: true }) activeOperation!: string | null;
}

@ObjectType({ description: 'An instance as it was at a past moment or revision.' })
export class InstanceAt {
  @Field(() => ID) id!: string;
  @Field(() => Int) revision!: number;
  @Field(() => GraphQLDateTime) recordedAt!: string;
  @Field(() => String, { nullable: true }) tenantId!: string | null;
  @Field(() => ID, { nullable: true }) machineId!: string | null;
  @Field() purpose!: string;
  @Field() status!: string;
  @Field() provisioningStatus!: string;
  @Field() released!: boolean;
  @Field(() => GraphQLJSON) labels!: Record<string, string>;
  @Field(() => GraphQLJSON, { description: 'provisioning attempts, oldest first' }) attempts!: unknown[];
}

@ObjectType({ description: 'A drain as it was at a past moment or revision.' })
export class DrainAt {
  @Field(() => ID) id!: string;
  @Field(() => Int) revision!: number;
  @Field(() => GraphQLDateTime) recordedAt!: string;
  @Field() node!: string;
  @Field() kind!: string;
  @Field() status!: string;
  @Field(() => Int) totalVMs!: number;
  @Field(() => Int) completedVMs!: number;
  @Field(() => Int) failedVMs!: number;
  @Field(() => Int) skippedVMs!: number;
  @Field(() => Int) inFlight!: number;
  @Field(() => GraphQLJSON, { description: 'each VM of the plan with its status then' }) vms!: unknown[];
  @Field(() => GraphQLDateTime, { nullable: true }) startedAt!: string | null;
  @Field(() => GraphQLDateTime, { nullable: true }) finishedAt!: string | null;
}

@ObjectType({ description: 'The first problem found in one stream by the whole-log verification.' })
export class LogBreakView {
  @Field() stream!: string;
  @Field({
    description:
      'A chain break (MISSING_HASH, UNKNOWN_HASH_VERSION, CONTENT_CHANGED, PREVIOUS_HASH_MISMATCH, REVISION_GAP, POSITION_OUT_OF_RANGE, POSITION_OUT_OF_ORDER), or against the seals: TRUNCATED (the stream ends before the head a seal recorded), STREAM_MISSING (no event of a sealed stream is left), SEAL_MISMATCH (the head a seal recorded was written again), BAD_SEAL (a seal that cannot be read or does not follow the one before it), ANCHOR_MISSING (the seal named by `anchor` is not in the log)',
  })
  reason!: string;
  @Field(() => Int, { nullable: true, description: 'the revision of the break, or the one a seal recorded' }) revision!: number | null;
  @Field(() => ID, { nullable: true }) eventId!: string | null;
  @Field() detail!: string;
}

@ObjectType({ description: 'The newest seal: the log is sealed up to its `through`. Keep its hash outside Drydock to tell later whether the log was cut after it.' })
export class LatestSealView {
  @Field(() => PositionScalar) position!: number;
  @Field(() => Int) revision!: number;
  @Field(() => String, { nullable: true }) hash!: string | null;
  @Field(() => PositionScalar, { description: 'every stream head up to this position is sealed' }) through!: number;
  @Field(() => GraphQLDateTime) sealedAt!: string;
}

@ObjectType({ description: 'The whole log verified: every stream\'s hash chain, and every seal against the streams as they stood when it was made.' })
export class LogVerification {
  @Field() ok!: boolean;
  @Field(() => PositionScalar, { description: 'the head of the log when the check began; later events are left to the next check' }) head!: number;
  @Field(() => Int) checkedEvents!: number;
  @Field(() => Int) checkedStreams!: number;
  @Field(() => Int, { description: 'seal events checked' }) seals!: number;
  @Field(() => LatestSealView, { nullable: true }) latestSeal!: LatestSealView | null;
  @Field(() => Int, { description: 'events after the latest seal (seals aside): not yet protected against removal' }) unsealedEvents!: number;
  @Field(() => Int) brokenStreams!: number;
  @Field(() => [LogBreakView], { description: 'one per broken stream, in the order found, up to `limit`' }) breaks!: LogBreakView[];
  @Field(() => Float) durationSeconds!: number;
  @Field(() => Float) eventsPerSecond!: number;
}

@ObjectType({ description: 'A step of a whole-log verification; the last one carries the report.' })
export class LogVerificationProgress {
  @Field(() => Int) checkedEvents!: number;
  @Field(() => Int) checkedStreams!: number;
  @Field(() => PositionScalar, { description: 'the position of the last event checked' }) position!: number;
  @Field(() => PositionScalar) head!: number;
  @Field(() => Float, { description: '0..1, by position' }) progress!: number;
  @Field(() => Float) eventsPerSecond!: number;
  @Field(() => Int) brokenStreams!: number;
  @Field(() => [LogBreakView], { description: 'every break found since the previous step' }) newBreaks!: LogBreakView[];
  @Field(() => LogVerification, { nullable: true, description: 'on the last step' }) report!: LogVerification | null;
}
