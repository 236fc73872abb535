import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface GqlResult<T = Record<string, any>> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, any>; path?: string[] }>;
}

/** A GraphQL request over real HTTP. */
export async function gql<T = Record<string, any>>(port: number, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<GqlResult<T>> {
  const res = await fetch(`http://localhost:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GqlResult<T>;
}

/** A graphql-ws (graphql-transport-ws) client on the same path. */
export function wsClient(port: number, connectionParams: Record<string, unknown> = {}): Client {
  return createClient({ url: `ws://localhost:${port}/graphql`, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
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
