import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * API keys travel in the Authorization header only. A URL is written down everywhere it passes
 * (access logs, proxies, browser history, Referer headers), so a key in one is as good as
 * published: a request carrying one is refused (400 BAD_USER_INPUT naming the parameter) before
 * anything else reads it, and every URL a log shows has such values redacted.
 */

/** A query parameter that carries a credential by its name. */
const KEY_PARAMETER = /^(?:key|api[-_]?key|access[-_]?key|token|access[-_]?token|auth|authorization|bearer|secret|password)$/i;
/** A Drydock key (`dd_` and 43 base64url characters), under whatever name, in whatever part of a URL or header, glued to whatever. */
const DRYDOCK_KEY = /dd_[A-Za-z0-9_-]{40,}/;
const DRYDOCK_KEYS = new RegExp(DRYDOCK_KEY.source, 'g');

/** Does a text (a header's value, a URL's part) carry something shaped like a Drydock key? */
export const looksLikeKey = (text: string): boolean => DRYDOCK_KEY.test(text);
export const REDACTED = '[redacted]';

function decoded(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

interface Parameter {
  raw: string;
  name: string;
  carriesKey: boolean;
}

function parameters(query: string): Parameter[] {
  return query
    .split('&')
    .filter((raw) => raw.length > 0)
    .map((raw) => {
      const eq = raw.indexOf('=');
      const name = decoded(eq < 0 ? raw : raw.slice(0, eq));
      const value = eq < 0 ? '' : decoded(raw.slice(eq + 1));
      return { raw, name, carriesKey: KEY_PARAMETER.test(name) || DRYDOCK_KEY.test(value) || DRYDOCK_KEY.test(name) };
    });
}

/**
 * What of a URL carries a key: a query parameter (by its name, or by a name or value shaped like
 * a Drydock key, named as `[redacted]` then), `path` for a key in the path, or null.
 */
export function keyParameterIn(url: string): string | null {
  const q = url.indexOf('?');
  if (DRYDOCK_KEY.test(decoded(q < 0 ? url : url.slice(0, q)))) return 'path';
  if (q < 0) return null;
  const carrier = parameters(url.slice(q + 1)).find((p) => p.carriesKey);
  return carrier ? (DRYDOCK_KEY.test(carrier.name) ? REDACTED : carrier.name) : null;
}

/** The URL as a log may show it: every value of such a parameter, and anything shaped like a key, replaced by [redacted]. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).replace(DRYDOCK_KEYS, REDACTED);
  if (q < 0) return path;
  const query = parameters(url.slice(q + 1))
    .map((p) => (p.carriesKey ? `${p.raw.split('=')[0]}=${REDACTED}` : p.raw.replace(DRYDOCK_KEYS, REDACTED)))
    .join('&');
  return `${path}?${query}`;
}

type Log = (details: Record<string, unknown>, message: string) => void;

function refusal(url: string, parameter: string): { status: number; body: string } {
  const where = parameter === 'path' ? 'in its path' : `query parameter "${parameter}"`;
  const message = `API keys are not accepted in URLs (${where}): send the key as Authorization: Bearer <key>, and revoke a key that has been sent in a URL`;
  const path = url.split('?')[0];
  // GraphQL clients read `errors`; the export and the probes answer in the shape the export's errors have.
  const body = path === '/graphql' ? { errors: [{ message, extensions: { code: 'BAD_USER_INPUT', field: parameter } }] } : { error: { code: 'BAD_USER_INPUT', message, field: parameter } };
  return { status: 400, body: JSON.stringify(body) };
}

/** Middleware, mounted before any other: refuses an HTTP request whose URL carries a key. */
export function refuseKeysInUrls(log: Log) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const url = req.url ?? '';
    const parameter = keyParameterIn(url);
    if (!parameter) return next();
    log({ method: req.method, url: redactUrl(url), parameter }, 'refused a request carrying an API key in its URL');
    const { status, body } = refusal(url, parameter);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

/**
 * The same for a WebSocket upgrade, which never passes through middleware: called first by the
 * upgrade handler. Answers 400 on the raw socket and returns true when the URL carries a key.
 */
export function refuseUpgradeCarryingKey(req: IncomingMessage, socket: Duplex, log: Log): boolean {
  const url = req.url ?? '';
  const parameter = keyParameterIn(url);
  if (!parameter) return false;
  log({ method: req.method, url: redactUrl(url), parameter, upgrade: true }, 'refused a request carrying an API key in its URL');
  const { status, body } = refusal(url, parameter);
  socket.on('error', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} Bad Request\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  return true;
}
