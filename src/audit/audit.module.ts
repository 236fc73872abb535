import { Module } from '@nestjs/common';
import { AccessModule } from '../access/access.module';
import { EventsResolver } from './events.resolver';
import { AuditExportController } from './export.controller';
import { LogSealerService } from './log-sealer.service';
import { TimeTravelResolver } from './time-travel.resolver';

/** Auditors' reads (the history, cause chains, hash chains and whole-log verification, time travel, the NDJSON export) and the log's seals. */
@Module({ imports: [AccessModule], providers: [EventsResolver, TimeTravelResolver, LogSealerService], controllers: [AuditExportController] })
export class AuditModule {}
