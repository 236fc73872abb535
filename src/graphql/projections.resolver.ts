import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import { Args, Field, Float, Int, Mutation, ObjectType, Query, Resolver, Subscription } from '@nestjs/graphql';
import { map } from 'rxjs';
import { redactDocument } from '../audit/redaction';
import { ProjectionsService, ProjectionStatus as Status } from '../messaging/projections.service';
import { toAsyncIterator } from './async-iterator';
import { Allow } from './roles';
import { PositionScalar } from './scalars';

@ObjectType()
export class ProjectionFailure {
  @Field(() => PositionScalar) position!: number;
  @Field() eventId!: string;
  @Field() eventType!: string;
  @Field() error!: string;
  @Field(() => GraphQLDateTime) at!: string;
}

@ObjectType()
export class RebuildProgress {
  @Field(() => Float, { description: '0..1' }) progress!: number;
  @Field(() => Int) processed!: number;
  @Field(() => Int) total!: number;
  @Field(() => Float, { nullable: true, description: 'seconds until done, at the current rate' }) eta!: number | null;
  @Field(() => Float) eventsPerSecond!: number;
  @Field({ description: 'running, standby (another instance runs it; this one follows its commits), rebuilding, stopped or failed' }) state!: string;
}

@ObjectType({ description: 'Why a read model is not served: not built from the event log yet, or not matching it (then a rebuild from the log replaces it).' })
export class ProjectionRefusal {
  @Field() reason!: string;
  @Field(() => GraphQLDateTime, { nullable: true, description: 'when the instance running it recorded it (null: found by this instance, not yet recorded)' }) detectedAt!: string | null;
}

@ObjectType()
export class ProjectionStatus {
  @Field() name!: string;
  @Field(() => Int) version!: number;
  @Field(() => PositionScalar) checkpoint!: number;
  @Field(() => Int, { description: 'positions behind the head of the log' }) lag!: number;
  @Field(() => Float, { description: 'seconds behind the head of the log' }) lagSeconds!: number;
  @Field({ description: 'running, standby (another instance runs it; this one follows its commits), rebuilding, stopped or failed' }) state!: string;
  @Field(() => ProjectionFailure, { nullable: true }) failure!: ProjectionFailure | null;
  @Field(() => RebuildProgress, { nullable: true }) rebuild!: RebuildProgress | null;
  @Field({ description: 'false while queries of this read model are refused (UNAVAILABLE): it is not built from the event log yet, or it does not match the log and is being rebuilt' }) serving!: boolean;
  @Field(() => ProjectionRefusal, { nullable: true, description: 'why it is not served, while it is not' }) notServed!: ProjectionRefusal | null;
}

@ObjectType()
export class CollectionDrift {
  @Field({ description: 'the logical collection' }) name!: string;
  @Field(() => Int) liveDocuments!: number;
  @Field(() => Int) rebuiltDocuments!: number;
  @Field(() => Int) differences!: number;
}

@ObjectType()
export class DocumentDrift {
  @Field() collection!: string;
  @Field() id!: string;
  @Field({ description: 'MISSING_IN_LIVE, MISSING_IN_REBUILD or DIFFERENT' }) kind!: string;
  @Field(() => GraphQLJSON, { nullable: true }) live!: unknown;
  @Field(() => GraphQLJSON, { nullable: true }) rebuilt!: unknown;
}

@ObjectType({ description: 'A read model compared, document by document, with a private rebuild from the log at the same position.' })
export class ProjectionDrift {
  @Field() projection!: string;
  @Field(() => PositionScalar, { description: 'the log position both sides were compared at' }) checkpoint!: number;
  @Field({ description: 'true when the read model is exactly what the log says' }) ok!: boolean;
  @Field(() => [CollectionDrift]) collections!: CollectionDrift[];
  @Field(() => [DocumentDrift], { description: 'the first 50 differences' }) differences!: DocumentDrift[];
}

function toGql(s: Status): ProjectionStatus {
  return {
    name: s.name,
    version: s.version,
    checkpoint: s.checkpoint,
    lag: s.lag.positions,
    lagSeconds: s.lag.seconds,
    state: s.state,
    failure: s.failure,
    rebuild: s.rebuild ? { ...s.rebuild, eta: s.rebuild.etaSeconds, state: s.state } : null,
    serving: s.serving,
    notServed: s.notServed,
  };
}

@Resolver(() => ProjectionStatus)
export class ProjectionsResolver {
  constructor(private readonly service: ProjectionsService) {}

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => [ProjectionStatus])
  async projections(): Promise<ProjectionStatus[]> {
    return (await this.service.statuses()).map(toGql);
  }

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Query(() => ProjectionDrift, { description: 'Drift check: rebuilds the read model privately from the log and compares it with the live one, document by document.' })
  async verifyProjection(@Args('name') name: string): Promise<ProjectionDrift> {
    const report = await this.service.verify(name);
    // Raw documents, shown as history is: secrets redacted.
    return { ...report, differences: report.differences.map((d) => ({ ...d, live: redactDocument(d.collection, d.live), rebuilt: redactDocument(d.collection, d.rebuilt) })) };
  }

  @Allow('OPERATOR', 'ADMIN')
  @Mutation(() => ProjectionStatus, { description: 'Rebuilds a read model beside the live one and swaps it in once caught up.' })
  async rebuildProjection(@Args('name') name: string): Promise<ProjectionStatus> {
    return toGql(await this.service.rebuild(name));
  }

  @Allow('OPERATOR', 'ADMIN')
  @Mutation(() => ProjectionStatus, { description: 'After a fix: retries the event a failed projection stopped at.' })
  async retryProjection(@Args('name') name: string): Promise<ProjectionStatus> {
    return toGql(await this.service.retry(name));
  }

  @Allow('OPERATOR', 'AUDITOR', 'ADMIN')
  @Subscription(() => RebuildProgress, { resolve: (p: RebuildProgress) => p })
  projectionRebuild(@Args('name') name: string) {
    return toAsyncIterator(
      this.service.rebuildProgress(name).pipe(map((p) => ({ ...p, eta: p.etaSeconds }))),
    );
  }
}
