import WebSocket from 'ws';

export interface RawMessage {
  id?: string;
  type: string;
  payload?: any;
}

/**
 * A graphql-transport-ws socket driven message by message, for what a well-behaved client never
 * does: messages over the size limit, a socket that stops reading, many subscriptions at once.
 */
export interface RawSocket {
  ws: WebSocket;
  send(message: RawMessage | string): void;
  /** The next message with this id (any id when omitted). */
  next(id?: string, timeoutMs?: number): Promise<RawMessage>;
  /** Every message with this id until it completes or errs. */
  received(id: string): RawMessage[];
  closed: Promise<{ code: number; reason: string }>;
}

export async function rawSocket(port: number, key: string | null): Promise<RawSocket> {
  const ws = new WebSocket(`ws://localhost:${port}/graphql`, 'graphql-transport-ws');
  const inbox: RawMessage[] = [];
  const all: RawMessage[] = [];
  const waiters: Array<{ id?: string; resolve: (m: RawMessage) => void }> = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as RawMessage;
    all.push(m);
    const i = waiters.findIndex((w) => w.id === undefined || w.id === m.id);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
    else inbox.push(m);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const socket: RawSocket = {
    ws,
    send: (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
    next: (id, timeoutMs = 10_000) => {
      const i = inbox.findIndex((m) => id === undefined || m.id === id);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
      return new Promise((resolve, reject) => {
        const waiter = { id, resolve: (m: RawMessage) => (clearTimeout(timer), resolve(m)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no message${id ? ` for ${id}` : ''} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    received: (id) => all.filter((m) => m.id === id),
    closed,
  };
  socket.send({ type: 'connection_init', payload: key ? { authorization: `Bearer ${key}` } : {} });
  return socket;
}

/** A socket past connection_ack. */
export async function acknowledgedSocket(port: number, key: string): Promise<RawSocket> {
  const socket = await rawSocket(port, key);
  const ack = await socket.next();
  if (ack.type !== 'connection_ack') throw new Error(`expected connection_ack, got ${JSON.stringify(ack)}`);
  return socket;
}

/** Runs one operation over a socket and returns its first answer (`next` or `error`). */
export async function wsOperation(socket: RawSocket, id: string, query: string, variables?: Record<string, unknown>, operationName?: string): Promise<RawMessage> {
  socket.send({ id, type: 'subscribe', payload: { query, variables, operationName } });
  return socket.next(id);
}

/** Closes a socket and waits for the close handshake to finish. */
export async function closeSocket(socket: RawSocket): Promise<void> {
  socket.ws.close();
  await socket.closed;
}
