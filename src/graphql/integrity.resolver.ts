import { Inject } from '@nestjs/common';
import { Args, Field, Int, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { PinoLogger } from 'nestjs-pino';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { BadInputError } from '../messaging/domain-errors';
import { READ_STORE, ReadStore } from '../read-store/read-store.port';
import { INTEGRITY_STATUSES, IntegrityReport } from '../storage/integrity';
import { gqlEnum } from './enums';
import { Allow } from './roles';

const IntegrityStatusEnum = gqlEnum('IntegrityStatus', INTEGRITY_STATUSES);

@ObjectType({ description: "One store's integrity check." })
export class StoreIntegrityReport {
  @Field({ description: 'the store checked, as the start-up line names it' }) store!: string;
  @Field(() => IntegrityStatusEnum, { description: 'OK; DAMAGED (details: the findings); TIMED_OUT or FAILED (not checked; details: why); NOT_APPLICABLE (the store checks itself; details: how)' })
  status!: IntegrityReport['status'];
  @Field(() => [String]) details!: string[];
  @Field(() => Int) milliseconds!: number;
}

@ObjectType({ description: "The stores' integrity: SQLite's PRAGMA quick_check of the embedded files, each bounded in time." })
export class StoreIntegrity {
  @Field({ description: 'true when no store is DAMAGED, TIMED_OUT or FAILED' }) ok!: boolean;
  @Field(() => StoreIntegrityReport) eventStore!: StoreIntegrityReport;
  @Field(() => StoreIntegrityReport) readStore!: StoreIntegrityReport;
}

@Resolver()
export class IntegrityResolver {
  constructor(
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(READ_STORE) private readonly read: ReadStore,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('integrity');
  }

  @Allow('OPERATOR', 'ADMIN')
  @Query(() => StoreIntegrity, {
    description:
      'Checks both stores now (PRAGMA quick_check of events.db and read.db, on threads of their own, each within timeoutSeconds) and reports what it found. ' +
      'A damaged events.db is restored from a backup; a damaged read.db is removed (or set aside) with the app stopped, and the read models are rebuilt from the log at the next start.',
  })
  async storeIntegrity(@Args('timeoutSeconds', { type: () => Int, defaultValue: 60 }) timeoutSeconds: number): Promise<StoreIntegrity> {
    if (timeoutSeconds < 1 || timeoutSeconds > 600) throw new BadInputError('timeoutSeconds', 'must be between 1 and 600');
    const ms = timeoutSeconds * 1000;
    const [eventStore, readStore] = await Promise.all([this.events.checkIntegrity(ms), this.read.checkIntegrity(ms)]);
    const result = {
      ok: [eventStore, readStore].every((r) => r.status === 'OK' || r.status === 'NOT_APPLICABLE'),
      eventStore: { store: this.events.description, ...eventStore },
      readStore: { store: this.read.description, ...readStore },
    };
    for (const r of [result.eventStore, result.readStore]) {
      if (r.status === 'DAMAGED') this.logger.error({ store: r.store, details: r.details }, 'integrity check: the store is damaged');
      else if (r.status !== 'OK' && r.status !== 'NOT_APPLICABLE') this.logger.warn({ store: r.store, status: r.status, details: r.details }, 'integrity check: not checked');
    }
    return result;
  }
}
