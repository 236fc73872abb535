import { Controller, Get, Inject, Query, Req, Res } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { IsISO8601, IsOptional, IsString, Matches, MaxLength, validateSync } from 'class-validator';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PinoLogger } from 'nestjs-pino';
import { once } from 'node:events';
import { ApiKeysService } from '../access/api-keys.service';
import { RequestRateLimiter } from '../access/rate-limiter';
import { EVENT_STORE, EventStore } from '../event-store/event-store.port';
import { history } from './history';

/** The query string of `GET /audit/export`: the filters of the `events` query. */
export class ExportQuery {
  @IsOptional() @IsString() @MaxLength(200) stream?: string;
  @IsOptional() @IsString() @Matches(/^[a-z]{1,40}$/, { message: 'category must be lowercase letters, e.g. machine' }) category?: string;
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9]+(,[A-Za-z0-9]+){0,49}$/, { message: 'types must be event types separated by commas' }) types?: string;
  @IsOptional() @IsString() @MaxLength(200) correlationId?: string;
  @IsOptional() @IsString() @MaxLength(300) actor?: string;
  @IsOptional() @IsISO8601({ strict: true }, { message: 'from must be an ISO 8601 date-time' }) from?: string;
  @IsOptional() @IsISO8601({ strict: true }, { message: 'to must be an ISO 8601 date-time' }) to?: string;
  @IsOptional() @Matches(/^\d{1,15}$/, { message: 'after must be a log position (a whole number)' }) after?: string;
}

const AUDIT_ROLES = new Set(['OPERATOR', 'AUDITOR', 'ADMIN']);
/** Lines are written in chunks of about this many bytes, waiting for the socket when it is full. */
const CHUNK = 64 * 1024;

/**
 * `GET /audit/export?stream=&category=&types=A,B&correlationId=&actor=&from=&to=&after=` streams
 * the matching events as NDJSON, one event a line in log order, straight from the event store a
 * page at a time and at the pace the client reads: memory stays flat for any size of history.
 */
@Controller('audit')
export class AuditExportController {
  constructor(
    @Inject(EVENT_STORE) private readonly log: EventStore,
    private readonly keys: ApiKeysService,
    private readonly rateLimiter: RequestRateLimiter,
    private readonly logger: PinoLogger,
  ) {}

  @Get('export')
  async export(@Query() raw: Record<string, unknown>, @Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    const principal = await this.keys.authenticate(req.headers.authorization);
    // An export spends the caller's budget like a GraphQL operation: per key, or per address without a valid key.
    const limited = await this.rateLimiter.spend(principal, req.socket.remoteAddress);
    if (limited) {
      res.setHeader('retry-after', String(limited.retryAfterSeconds));
      return fail(res, 429, 'RATE_LIMITED', limited.message);
    }
    if (!principal) return fail(res, 401, 'UNAUTHENTICATED', 'an API key is required: Authorization: Bearer <key>');
    if (!AUDIT_ROLES.has(principal.role)) return fail(res, 403, 'FORBIDDEN', `role ${principal.role} may not export the history`);
    const query = plainToInstance(ExportQuery, raw);
    const problem = validateSync(query, { forbidUnknownValues: false, whitelist: true, forbidNonWhitelisted: true })[0];
    if (problem) return fail(res, 400, 'BAD_USER_INPUT', Object.values(problem.constraints ?? {})[0] ?? 'is invalid', problem.property);
    if (query.from && query.to && Date.parse(query.from) >= Date.parse(query.to)) return fail(res, 400, 'BAD_USER_INPUT', 'from must be before to', 'from');

    res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8' });
    let gone = false;
    res.on('close', () => (gone = true));
    const events = history(
      this.log,
      {
        ...query,
        types: query.types?.split(','),
        from: query.from ? new Date(query.from).toISOString() : null,
        to: query.to ? new Date(query.to).toISOString() : null,
      },
      { after: query.after ? Number(query.after) : undefined },
    );
    let chunk = '';
    let count = 0;
    try {
      for await (const e of events) {
        if (gone) break;
        chunk += `${JSON.stringify(e)}\n`;
        count += 1;
        if (chunk.length >= CHUNK) {
          const ok = res.write(chunk);
          chunk = '';
          if (!ok) await Promise.race([once(res, 'drain'), once(res, 'close')]);
        }
      }
      if (!gone) res.end(chunk);
      this.logger.info({ actor: principal.name, events: count, completed: !gone }, 'history exported');
    } catch (err) {
      // Headers are gone: cutting the connection (no final chunk) tells the client the export is incomplete.
      this.logger.error({ events: count, err }, 'history export failed');
      res.destroy();
    }
  }
}

function fail(res: ServerResponse, status: number, code: string, message: string, field?: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ error: { code, message, ...(field ? { field } : {}) } }));
}
