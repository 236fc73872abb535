import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import pino from 'pino';
import type { AppConfig } from '../config/config';
import { looksLikeKey } from './url-keys';
import { redactUrl } from './url-keys';

/** Never logged: keys, credentials, authorization headers. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.authorization',
  '*.apiKey',
  '*.key',
  '*.password',
  '*.credentials',
  '*.connectionString',
];

function transport(config: AppConfig) {
  return config.log.pretty ? { target: 'pino-pretty', options: { singleLine: true } } : undefined;
}

/** The correlation id of a request: taken from x-correlation-id / x-request-id, or made here. */
export function correlationIdOf(req: Pick<IncomingMessage, 'headers'>): string {
  const header = req.headers['x-correlation-id'] ?? req.headers['x-request-id'];
  const value = Array.isArray(header) ? header[0] : header;
  // A key sent as a correlation id would be logged, echoed and written into the history for good.
  return value && /^[\w.:-]{1,128}$/.test(value) && !looksLikeKey(value) ? value : randomUUID();
}

export function loggerParams(config: AppConfig): Params {
  return {
    pinoHttp: {
      level: config.log.level,
      transport: transport(config),
      redact: REDACT_PATHS,
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const id = correlationIdOf(req);
        res.setHeader('x-correlation-id', id);
        return id;
      },
      customAttributeKeys: { reqId: 'correlationId' },
      // A request is logged by what identifies it, not by its headers: cheaper on every request
      // (the child logger serializes and redacts this eagerly), and no header can leak a secret.
      serializers: {
        // A URL is logged with any key in it redacted (such a request is refused, but a log line may come first).
        req: (req: { id?: unknown; method?: string; url?: string; remoteAddress?: string }) => ({ id: req.id, method: req.method, url: req.url === undefined ? undefined : redactUrl(req.url), remoteAddress: req.remoteAddress }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
      quietReqLogger: true,
      autoLogging: { ignore: (req: IncomingMessage) => req.url === '/healthz' || req.url === '/readyz' },
    },
  };
}

/** A logger for the moments before Nest's logger exists (bad config, failed start). */
export function bootLogger(config?: AppConfig) {
  return pino({
    level: config?.log.level ?? 'info',
    transport: config ? transport(config) : undefined,
    redact: REDACT_PATHS,
  });
}
