import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { TEST_ADMIN_KEY } from './server-process';

/** Which key a request carries: the test admin key by default, another key, or none (null). */
export type Key = string | null;
const bearer = (key: Key): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {});

export interface GqlResult<T = Record<string, any>> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, any>; path?: string[] }>;
}

/** A GraphQL request over real HTTP. */
export async function gql<T = Record<string, any>>(port: number, query: string, variables?: Record<string, unknown>, key: Key = TEST_ADMIN_KEY): Promise<GqlResult<T>> {
  return (await gqlResponse<T>(port, query, variables, key)).body;
}

/** The same, with the HTTP status. */
export async function gqlResponse<T = Record<string, any>>(port: number, query: string, variables?: Record<string, unknown>, key: Key = TEST_ADMIN_KEY) {
  const res = await fetch(`http://localhost:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(key) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body: GqlResult<T>;
  try {
    body = JSON.parse(text) as GqlResult<T>;
  } catch {
    body = { errors: [{ message: text }] };
  }
  return { status: res.status, body };
}

/** A graphql-ws (graphql-transport-ws) client on the same path. */
export function wsClient(port: number, key: Key = TEST_ADMIN_KEY, onClosed?: (code: number, reason: string) => void): Client {
  return createClient({
    url: `ws://localhost:${port}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: key ? { authorization: `Bearer ${key}` } : {},
    retryAttempts: 0,
    lazy: true,
    on: { closed: (e) => onClosed?.((e as { code: number }).code, String((e as { reason?: string }).reason ?? '')) },
  });
}

/** Subscribes and collects messages; `next(n)` resolves once n have arrived. */
export function collect<T = any>(client: Client, query: string, variables?: Record<string, unknown>) {
  const messages: T[] = [];
  const errors: unknown[] = [];
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  const check = () => {
    for (const w of [...waiting]) if (messages.length >= w.n) (waiting.splice(waiting.indexOf(w), 1), w.resolve());
  };
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (m) => {
        if (m.errors) errors.push(m.errors);
        if (m.data) messages.push(m.data as T);
        check();
      },
      error: (e) => errors.push(e),
      complete: () => undefined,
    },
  );
  return {
    messages,
    errors,
    unsubscribe,
    next: (n: number, timeoutMs = 10_000) =>
      new Promise<T[]>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${messages.length}/${n} messages (errors: ${JSON.stringify(errors)})`)), timeoutMs);
        waiting.push({ n, resolve: () => (clearTimeout(t), resolve(messages)) });
        check();
      }),
  };
}
