import { Module } from '@nestjs/common';
import { AccessModule } from '../access/access.module';
import { EventsResolver } from './events.resolver';
import { AuditExportController } from './export.controller';
import { TimeTravelResolver } from './time-travel.resolver';

/** Auditors' reads: the history, cause chains, hash chains, time travel and the NDJSON export. */
@Module({ imports: [AccessModule], providers: [EventsResolver, TimeTravelResolver], controllers: [AuditExportController] })
export class AuditModule {}
