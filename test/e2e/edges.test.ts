import { join } from 'node:path';
import fc from 'fast-check';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { gql, gqlResponse } from '../support/api-client';
import { acknowledgedSocket, closeSocket, rawSocket, wsOperation, type RawMessage, type RawSocket } from '../support/raw-ws';
import { ServerProcess, startReadyServer, TEST_ADMIN_KEY, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

/** `n` fragments, each spreading the next one twice: 2^n fields if expanded, 1.9 KB of text at n = 30. */
function fanOut(n: number): string {
  let doc = 'query { machines { ...F0 } }\n';
  for (let i = 0; i < n; i++) doc += `fragment F${i} on MachineConnection { totalCount ${i < n - 1 ? `...F${i + 1} ...F${i + 1}` : ''} }\n`;
  return doc;
}

const CYCLE = 'query { machines { ...A } } fragment A on MachineConnection { totalCount ...B } fragment B on MachineConnection { totalCount ...A }';

/** JSON text of an object nested `depth` levels deep (JSON.stringify itself overflows long before 5,000). */
const deepJson = (depth: number) => `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`;

async function postRaw(port: number, body: string, key: string | null = TEST_ADMIN_KEY) {
  const res = await fetch(`http://localhost:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } };
}

/** A promise's value, or null when it takes longer than `ms` (the timer cleared either way). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** /healthz's status, its body read so that no connection is left open. */
async function healthz(port: number): Promise<number> {
  const res = await fetch(`http://localhost:${port}/healthz`);
  await res.text();
  return res.status;
}

const codesOf = (m: RawMessage): unknown[] => (m.type === 'error' ? (m.payload as Array<{ extensions?: { code?: unknown } }>) : ((m.payload?.errors ?? []) as Array<{ extensions?: { code?: unknown } }>)).map((e) => e.extensions?.code);

describe('the edges: documents, sockets and bodies that must not stall, fool or bypass the server', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  let auditor: string;
  const dataDir = () => join(dir.path, 'edges');

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({
      DATA_DIR: dataDir(),
      LOG_LEVEL: 'info',
      GRAPHQL_RATE_LIMIT_PER_MINUTE: '100000',
      GRAPHQL_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '100000',
      GRAPHQL_MAX_SUBSCRIPTIONS_PER_SOCKET: '4',
      GRAPHQL_MAX_SUBSCRIPTIONS_PER_KEY: '6',
      GRAPHQL_SUBSCRIPTION_QUEUE_LIMIT: '8',
      GRAPHQL_BODY_LIMIT: '64kb',
    }));
    auditor = (await gql(port, 'mutation { createApiKey(input: { role: AUDITOR, name: "edges-auditor" }) { key } }')).data!.createApiKey.key;
    await gql(port, 'mutation { registerMachines(input: { ids: ["edge-1"], phase: READY }) { id } }');
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  describe('documents', () => {
    it.each([16, 30, 60])('a fan-out of %i fragments is refused in under 100 ms with a typed code, with and without a key, while /healthz answers', async (n) => {
      // A warm server: the figure is the refusal's, not the compiler's first pass over its code.
      await gql(port, '{ machines { totalCount } }');
      await gqlResponse(port, fanOut(12));
      for (const key of [TEST_ADMIN_KEY, null]) {
        const started = performance.now();
        const [refused, health] = await Promise.all([gqlResponse(port, fanOut(n), undefined, key), healthz(port)]);
        const ms = performance.now() - started;
        expect(refused.status).toBe(400);
        expect(refused.body.errors![0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'fieldsPerSelection' });
        expect(health).toBe(200);
        expect(ms).toBeLessThan(100);
      }
    });

    it('the fan-out is refused over WebSocket too, and the socket goes on serving', async () => {
      const socket = await acknowledgedSocket(port, auditor);
      const started = performance.now();
      const refused = await wsOperation(socket, 'fan', fanOut(60));
      expect(performance.now() - started).toBeLessThan(100);
      expect(refused.type).toBe('error');
      expect(refused.payload[0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'fieldsPerSelection' });
      expect((await wsOperation(socket, 'after', '{ machines { totalCount } }')).payload.data.machines.totalCount).toBe(1);
      await closeSocket(socket);
    });

    it('root fields are counted through fragments and inline fragments', async () => {
      const fields = Array.from({ length: 11 }, (_, i) => `r${i}: __typename`);
      const spread = await gqlResponse(port, `query { ...R } fragment R on Query { ${fields.slice(0, 6).join(' ')} ... on Query { ${fields.slice(6).join(' ')} } }`);
      expect(spread.status).toBe(400);
      expect(spread.body.errors![0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'rootFields', max: 10, found: 11 });
    });

    it('a document of 1,240 same-named fields is refused before GraphQL’s own rules weigh every pair of them', async () => {
      // Refused by a shape limit, which runs first: GraphQL's own rules (the overlapping-fields
      // rule took up to half a second on it) only run on documents within the shape limits.
      for (const key of [auditor, null]) {
        const r = await gqlResponse(port, `query { ${'siteConfig { autoMachineRepairEnabled } '.repeat(1240)} } # ${Math.random()}`, undefined, key);
        expect(r.body.errors).toHaveLength(1);
        expect(r.body.errors![0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'rootFields' });
      }
      const nested = await gqlResponse(port, `query { machines { ${'pageInfo { hasNextPage } '.repeat(1240)} } }`);
      expect(nested.body.errors![0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'fieldsPerSelection', max: 100 });
    });

    it('a persisted-query extension and a subscription over HTTP are typed refusals', async () => {
      const apq = await postRaw(port, JSON.stringify({ query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }), null);
      expect(apq.body.errors![0].extensions!.code).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
      const sub = await gqlResponse(port, 'subscription { machineChanged(id: "edge-1") { id } }');
      expect(sub.status).toBe(400);
      expect(sub.body.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'query' } });
      expect(sub.body.errors![0].message).toMatch(/over WebSocket/);
    });

    it('a fragment cycle is GRAPHQL_VALIDATION_FAILED over HTTP and WebSocket', async () => {
      const http = await gqlResponse(port, CYCLE);
      expect(http.status).toBe(400);
      expect(http.body.errors![0]).toMatchObject({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
      expect(http.body.errors![0].message).toMatch(/Cannot spread fragment "A" within itself/);
      const socket = await acknowledgedSocket(port, auditor);
      const ws = await wsOperation(socket, 'cycle', CYCLE);
      expect(ws.type).toBe('error');
      expect(ws.payload[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
      await closeSocket(socket);
    });

    it('an unknown operationName and two anonymous operations are typed refusals, not 500s', async () => {
      const unknown = await postRaw(port, JSON.stringify({ query: 'query A { projections { name } }', operationName: 'B' }));
      expect(unknown.status).toBe(400);
      expect(unknown.body.errors![0]).toMatchObject({ message: 'the document has no operation named "B"', extensions: { code: 'OPERATION_RESOLUTION_FAILURE', field: 'operationName' } });
      const unnamed = await postRaw(port, JSON.stringify({ query: 'query A { projections { name } } query B { machines { totalCount } }' }));
      expect(unnamed.status).toBe(400);
      expect(unnamed.body.errors![0].extensions).toMatchObject({ code: 'OPERATION_RESOLUTION_FAILURE', field: 'operationName' });
      const twoAnonymous = await postRaw(port, JSON.stringify({ query: '{ projections { name } } { machines { totalCount } }' }));
      expect(twoAnonymous.status).toBe(400);
      expect(twoAnonymous.body.errors![0].extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
      const socket = await acknowledgedSocket(port, auditor);
      const ws = await wsOperation(socket, 'op', 'query A { projections { name } }', undefined, 'B');
      expect(ws.payload[0].extensions).toMatchObject({ code: 'OPERATION_RESOLUTION_FAILURE', field: 'operationName' });
      await closeSocket(socket);
    });

    it('an explicit null for an argument that has a default is BAD_USER_INPUT naming the argument, over HTTP and WebSocket', async () => {
      const doc = 'query($n: Int) { machines(first: $n) { totalCount } }';
      const http = await gql(port, doc, { n: null });
      expect(http.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'first' });
      const socket = await acknowledgedSocket(port, auditor);
      expect(codesOf(await wsOperation(socket, 'null', doc, { n: null }))).toEqual(['BAD_USER_INPUT']);
      await closeSocket(socket);
    });

    it('variables nested 5,000 deep are BAD_USER_INPUT naming the variable, over HTTP and WebSocket, and append nothing', async () => {
      const store = new SqliteEventStore(join(dataDir(), 'events.db'));
      const before = await store.headPosition();
      const query = 'mutation($v: SetMachineLabelsInput!) { setMachineLabels(input: $v) { id } }';
      const body = `{"query":${JSON.stringify(query)},"variables":{"v":{"machineId":"edge-1","labels":${deepJson(5000)}}}}`;
      const http = await postRaw(port, body);
      expect(http.status).toBe(400);
      expect(http.body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(String(http.body.errors![0].extensions!.field)).toMatch(/^v\.labels\.a\.a/);
      const socket = await acknowledgedSocket(port, TEST_ADMIN_KEY);
      socket.send(`{"id":"deep","type":"subscribe","payload":{"query":${JSON.stringify(query)},"variables":{"v":{"machineId":"edge-1","labels":${deepJson(5000)}}}}}`);
      const ws = await socket.next('deep');
      expect(ws.payload[0].extensions.code).toBe('BAD_USER_INPUT');
      await closeSocket(socket);
      expect(await store.headPosition()).toBe(before);
      await store.close();
    });

    it('a body that is not JSON, or over the limit, is answered in GraphQL’s shape with a code', async () => {
      const malformed = await postRaw(port, '{"query": "{ projections { name } }"');
      expect(malformed.status).toBe(400);
      expect(malformed.body.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'body' });
      const large = await postRaw(port, JSON.stringify({ query: `{ projections { name } } # ${'x'.repeat(70_000)}` }));
      expect(large.status).toBe(413);
      expect(large.body.errors![0].extensions).toEqual({ code: 'PAYLOAD_TOO_LARGE', field: 'body' });
    });

    it('a document over the token or the nesting limit is GRAPHQL_PARSE_FAILED, before the parser recurses into it', async () => {
      const long = await gqlResponse(port, `{ ${'a '.repeat(6000)} }`);
      expect(long.status).toBe(400);
      expect(long.body.errors![0]).toMatchObject({ message: 'the document has more than 5000 tokens', extensions: { code: 'GRAPHQL_PARSE_FAILED', limit: 'tokens', max: 5000 } });
      // 2,000 levels: deep enough to exhaust the parser's stack, were it let in.
      const deep = `{ ${'machines { nodes { '.repeat(1000)}id${' } }'.repeat(1000)} }`;
      const nested = await gqlResponse(port, deep);
      expect(nested.status).toBe(400);
      expect(nested.body.errors![0]).toMatchObject({ extensions: { code: 'GRAPHQL_PARSE_FAILED', limit: 'nesting', max: 128 } });
      const socket = await acknowledgedSocket(port, auditor);
      expect((await wsOperation(socket, 'deep', deep)).payload[0].extensions).toMatchObject({ code: 'GRAPHQL_PARSE_FAILED', limit: 'nesting' });
      await closeSocket(socket);
    });

    it('a subscription whose root field is conditional is a validation error, not a crash of the validator', async () => {
      const doc = 'subscription($b: Boolean!) { machineChanged(id: "edge-1") @skip(if: $b) { id } }';
      const http = await gqlResponse(port, doc, { b: false });
      expect(http.status).toBe(400);
      expect(http.body.errors![0]).toMatchObject({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
      expect(http.body.errors![0].message).toMatch(/root field cannot be conditional/);
      const socket = await acknowledgedSocket(port, auditor);
      expect((await wsOperation(socket, 'cond', doc, { b: false })).payload[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
      await closeSocket(socket);
    });
  });

  describe('the WebSocket door has the guards of the HTTP door', () => {
    let socket: RawSocket;
    beforeEach(async () => {
      socket = await acknowledgedSocket(port, auditor);
    });
    afterEach(() => closeSocket(socket));

    it('a validation error is GRAPHQL_VALIDATION_FAILED naming the field, not INTERNAL', async () => {
      const r = await wsOperation(socket, 'v', '{ machinez { totalCount } }');
      expect(r.type).toBe('error');
      expect(r.payload[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(r.payload[0].message).toMatch(/"machinez"/);
      expect(server.output()).not.toMatch(/unexpected error in a GraphQL operation/);
    });

    it('queries and mutations over the socket meet the cost, depth, alias and root-field limits', async () => {
      expect((await wsOperation(socket, 'cost', '{ machines(first: 100000) { nodes { id phase } } }')).payload[0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'cost' });
      // Depth is counted on the document, known fields or not: thirteen levels are over the twelve allowed.
      const tooDeep = `{ ${'a { '.repeat(12)}b${' }'.repeat(12)} }`;
      const depth = await wsOperation(socket, 'depth', tooDeep);
      expect(depth.type).toBe('error');
      expect(depth.payload.find((e: { extensions: { limit?: string } }) => e.extensions.limit === 'depth')?.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', max: 12, found: 13 });
      const aliases = Array.from({ length: 16 }, (_, i) => `a${i}: totalCount`).join(' ');
      expect((await wsOperation(socket, 'aliases', `{ machines { ${aliases} } }`)).payload[0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'aliases', max: 15 });
      const roots = Array.from({ length: 11 }, (_, i) => `r${i}: __typename`).join(' ');
      expect((await wsOperation(socket, 'roots', `{ ${roots} }`)).payload[0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'rootFields', max: 10 });
      const refused = await wsOperation(socket, 'mutation', 'mutation { registerMachines(input: { ids: ["ws-x"] }) { id } }');
      expect(codesOf(refused)).toEqual(['FORBIDDEN']);
    });

    it('a message over the body limit closes the socket with 1009 (message too big)', async () => {
      socket.send({ id: 'big', type: 'subscribe', payload: { query: `{ projections { name } } # ${'x'.repeat(70_000)}` } });
      expect((await socket.closed).code).toBe(1009);
    });

    it('subscriptions are capped per socket and per key; a refused subscribe leaves the socket open', async () => {
      const sub = (s: RawSocket, id: string) => s.send({ id, type: 'subscribe', payload: { query: 'subscription { machineChanged(id: "edge-1") { id } }' } });
      for (let i = 0; i < 4; i++) sub(socket, `s${i}`);
      sub(socket, 's4');
      const refused = await socket.next('s4');
      expect(refused.type).toBe('error');
      expect(refused.payload[0].extensions).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', limit: 'subscriptionsPerSocket', max: 4 });
      // Completing one frees its slot.
      socket.send({ id: 's0', type: 'complete' });
      await new Promise((r) => setTimeout(r, 100));
      sub(socket, 's5');
      await expect(socket.next('s5', 500)).rejects.toThrow(/no message/); // open: nothing to say yet
      // The key has 4 open; a second socket of the same key gets 2 more, then the key's cap.
      const other = await acknowledgedSocket(port, auditor);
      sub(other, 'o1');
      sub(other, 'o2');
      sub(other, 'o3');
      const keyCap = await other.next('o3');
      expect(keyCap.payload[0].extensions).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', limit: 'subscriptionsPerKey', max: 6 });
      // Closing a socket gives its slots back to the key.
      await closeSocket(socket);
      await socket.closed;
      await new Promise((r) => setTimeout(r, 100));
      sub(other, 'o4');
      await expect(other.next('o4', 500)).rejects.toThrow(/no message/);
      await closeSocket(other);
    });

    it('a subscription id reused at once leaks no slot and leaves nothing running after its socket closes', async () => {
      const metric = async () => Number(/drydock_graphql_subscriptions_active (\d+)/.exec(await (await fetch(`http://localhost:${port}/metrics`)).text())?.[1]);
      const before = await metric();
      for (let round = 0; round < 3; round++) {
        const s = await acknowledgedSocket(port, auditor);
        for (let i = 0; i < 4; i++) {
          const sub = { type: 'subscribe', payload: { query: 'subscription { machineChanged(id: "edge-1") { id } }' } };
          s.send({ id: `r${i}`, ...sub });
          s.send({ id: `r${i}`, type: 'complete' });
          s.send({ id: `r${i}`, ...sub });
        }
        await new Promise((r) => setTimeout(r, 200));
        await closeSocket(s);
      }
      await waitFor(async () => (await metric()) === before, 5_000, 'every subscription of the closed sockets to end');
      // The key has all its slots: six subscriptions open on two new sockets.
      const [a, b] = [await acknowledgedSocket(port, auditor), await acknowledgedSocket(port, auditor)];
      for (let i = 0; i < 4; i++) a.send({ id: `a${i}`, type: 'subscribe', payload: { query: 'subscription { machineChanged(id: "edge-1") { id } }' } });
      for (let i = 0; i < 2; i++) b.send({ id: `b${i}`, type: 'subscribe', payload: { query: 'subscription { machineChanged(id: "edge-1") { id } }' } });
      await expect(b.next('b1', 500)).rejects.toThrow(/no message/);
      await Promise.all([closeSocket(a), closeSocket(b)]);
    });

    it('a consumer that stops reading is closed with 4100 once a subscription is 8 messages behind, and the server stays well', async () => {
      const admin = await acknowledgedSocket(port, TEST_ADMIN_KEY);
      const labels = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'.repeat(200)]));
      for (let i = 0; i < 4; i++) admin.send({ id: `m${i}`, type: 'subscribe', payload: { query: 'subscription { machineChanged(id: "edge-1") { id labels revision } }' } });
      await new Promise((r) => setTimeout(r, 200));
      admin.ws.pause(); // the client stops reading: the kernel's buffers fill, then the server's queue
      const overflowed = () => /closing a WebSocket whose subscription fell too far behind/.test(server.output());
      let changes = 0;
      while (!overflowed() && changes < 3000) {
        const r = await gql(port, 'mutation($l: JSON!) { setMachineLabels(input: { machineId: "edge-1", labels: $l }) { revision } }', { l: { ...labels, n: String(changes) } });
        expect(r.errors).toBeUndefined();
        changes++;
      }
      expect(overflowed()).toBe(true);
      // The close frame waits behind what the client has not read: read it all, and see why.
      admin.ws.resume();
      const closed = await within(admin.closed, 10_000);
      expect(closed).toMatchObject({ code: 4100 });
      expect(closed!.reason).toMatch(/^SLOW_CONSUMER/);
      expect(await healthz(port)).toBe(200);
    }, 90_000);
  });

  describe('fuzzing documents, fragments, variables and operation names over HTTP and WebSocket (fast-check)', () => {
    const field = fc.constantFrom('machines', 'machine', 'nodes', 'id', 'totalCount', 'pageInfo', 'hasNextPage', 'phase', 'labels', 'projections', 'name', '__typename', 'events', 'operations', 'instance', 'bogus', '__schema', 'types', 'machineChanged');
    const args = fc.constantFrom('', '(first: 3)', '(first: $n)', '(first: -1)', '(first: 99999999)', '(id: "edge-1")', '(id: $id)', '(filter: { labels: { a: "b" } })', '(filter: $f)', '(first: "x")', '(nope: 1)');
    const directive = fc.constantFrom('', '', '@skip(if: true)', '@include(if: $b)', '@skip(if: $n)', '@deprecated', '@bogus', '@include(if: false) @skip(if: false)');
    const alias = fc.constantFrom('', '', 'a: ', 'b: ', 'machines: ');
    const spread = fc.constantFrom('...F0', '...F1', '...F2', '...Nope', '... on Machine { id }', '... on Bogus { id }');
    const { set } = fc.letrec<{ set: string; selection: string }>((tie) => ({
      set: fc.array(tie('selection'), { minLength: 1, maxLength: 4 }).map((xs) => `{ ${xs.join(' ')} }`),
      selection: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.tuple(alias, field, args, directive).map(([a, f, x, d]) => `${a}${f}${x} ${d}`),
        fc.tuple(alias, field, args, directive, tie('set')).map(([a, f, x, d, s]) => `${a}${f}${x} ${d} ${s}`),
        spread,
      ),
    }));
    const fragment = fc.tuple(fc.constantFrom('F0', 'F1', 'F2'), fc.constantFrom('MachineConnection', 'Machine', 'Query', 'Bogus'), set).map(([n, t, s]) => `fragment ${n} on ${t} ${s}`);
    const operation = fc
      .tuple(fc.constantFrom('query', 'subscription', 'mutation', ''), fc.constantFrom('', 'A', 'B'), fc.constantFrom('', '($n: Int, $b: Boolean!)', '($id: ID!)', '($f: MachineFilter)', '($n: Int = 5)'), set)
      .map(([kind, name, vars, s]) => (kind ? `${kind} ${name}${vars} ${s}` : s));
    const document = fc.oneof(
      fc.tuple(fc.array(operation, { minLength: 1, maxLength: 2 }), fc.array(fragment, { maxLength: 3 })).map(([ops, frags]) => [...ops, ...frags].join('\n')),
      fc.string({ maxLength: 200 }),
      fc.constantFrom(fanOut(40), CYCLE, '{', '}', '{ machines { ...F0 } } fragment F0 on MachineConnection { ...F0 }', '\u0000', 'query ($n: Int) { machines(first: $n) { totalCount } }'),
    );
    const variables = fc.oneof(
      fc.constant(undefined),
      fc.record({ n: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.double()), b: fc.oneof(fc.boolean(), fc.string()), id: fc.string(), f: fc.oneof(fc.jsonValue(), fc.constant({ labels: { $regex: '^(.|.)*X$' } })) }, { requiredKeys: [] }),
      fc.jsonValue(),
    );
    const operationName = fc.oneof(fc.constant(undefined), fc.constantFrom('A', 'B', '', 'Nope'), fc.string({ maxLength: 20 }));

    it('no document, fragment shape, variables or operation name gives INTERNAL or a 5xx, or appends an event', async () => {
      const store = new SqliteEventStore(join(dataDir(), 'events.db'));
      const before = await store.headPosition();
      const socket = await acknowledgedSocket(port, auditor);
      let seq = 0;
      let tried = 0;
      try {
        await fc.assert(
          fc.asyncProperty(document, variables, operationName, fc.constantFrom<string | null>(auditor, null, 'dd_bad-key'), async (query, vars, name, key) => {
            tried++;
            const http = await postRaw(port, JSON.stringify({ query, variables: vars, operationName: name }), key);
            expect(http.status).toBeLessThan(500);
            for (const e of http.body.errors ?? []) expect(e.extensions?.code).not.toBe('INTERNAL');
            const id = `f${++seq}`;
            socket.send({ id, type: 'subscribe', payload: { query, variables: vars === undefined || (typeof vars === 'object' && !Array.isArray(vars)) ? vars : null, operationName: name } });
            const first = await socket.next(id, 300).catch(() => null); // a subscription that started has nothing to say yet
            if (first) for (const code of codesOf(first)) expect(code).not.toBe('INTERNAL');
            if (!first || first.type === 'next') socket.send({ id, type: 'complete' });
          }),
          { numRuns: 250 },
        );
      } finally {
        await closeSocket(socket);
      }
      expect(tried).toBeGreaterThanOrEqual(250);
      expect(await store.headPosition()).toBe(before);
      await store.close();
      expect(server.output()).not.toMatch(/unexpected error in a GraphQL operation/);
    });
  });
});

describe('rate limits count every operation, on both doors, and callers without a valid key per address', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'rate'), LOG_LEVEL: 'warn', GRAPHQL_RATE_LIMIT_PER_MINUTE: '20', GRAPHQL_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '5', GRAPHQL_MAX_SOCKETS_PER_KEY: '3' }));
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('operations over WebSocket spend the key’s budget, and HTTP then finds it spent', async () => {
    const key = (await gql(port, 'mutation { createApiKey(input: { role: AUDITOR, name: "rate-ws" }) { key } }')).data!.createApiKey.key;
    const socket = await acknowledgedSocket(port, key);
    for (let i = 0; i < 20; i++) expect((await wsOperation(socket, `q${i}`, '{ projections { name } }')).type).toBe('next');
    const limited = await wsOperation(socket, 'q20', '{ projections { name } }');
    expect(limited.type).toBe('error');
    expect(limited.payload[0].extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(limited.payload[0].extensions.retryAfterSeconds).toBeGreaterThan(0);
    const http = await gqlResponse(port, '{ projections { name } }', undefined, key);
    expect(http.status).toBe(429);
    await closeSocket(socket);
  });

  it('a key may hold a bounded number of sockets', async () => {
    const key = (await gql(port, 'mutation { createApiKey(input: { role: AUDITOR, name: "sockets" }) { key } }')).data!.createApiKey.key;
    const open = [await acknowledgedSocket(port, key), await acknowledgedSocket(port, key), await acknowledgedSocket(port, key)];
    const fourth = await rawSocket(port, key);
    expect(await fourth.closed).toMatchObject({ code: 1008, reason: expect.stringMatching(/^TOO_MANY_SOCKETS/) });
    await closeSocket(open[0]);
    const again = await acknowledgedSocket(port, key);
    await Promise.all([...open.slice(1), again].map(closeSocket));
  });

  it('requests without a valid key are limited per address, and a 429 says when to retry', async () => {
    const codes: unknown[] = [];
    for (let i = 0; i < 5; i++) codes.push((await gql(port, '{ machines { totalCount } }', undefined, i % 2 ? null : 'dd_guess')).errors![0].extensions!.code);
    expect(codes).toEqual(Array(5).fill('UNAUTHENTICATED'));
    const res = await fetch(`http://localhost:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer dd_guess-again' }, body: JSON.stringify({ query: '{ machines { totalCount } }' }) });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await res.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code).toBe('RATE_LIMITED');
    // A socket with a bad key from the same address: refused as rate-limited.
    const socket = await rawSocket(port, 'dd_guess');
    expect((await socket.closed).code).toBe(4429);
    // The export spends the same budget.
    const exported = await fetch(`http://localhost:${port}/audit/export`, { headers: { authorization: 'Bearer dd_guess-export' } });
    expect(exported.status).toBe(429);
    expect(Number(exported.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await exported.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    // A valid key is not held back by its address.
    expect((await gql(port, '{ projections { name } }')).errors).toBeUndefined();
  });
});

describe('production: the WebSocket door hides the schema as the HTTP door does', () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: join(dir.path, 'prod'), NODE_ENV: 'production', LOG_LEVEL: 'warn' }));
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  it('no introspection and no field suggestions over WebSocket, for any key', async () => {
    const socket = await acknowledgedSocket(port, TEST_ADMIN_KEY);
    const intro = await wsOperation(socket, 'i', '{ __schema { types { name } } }');
    expect(intro.type).toBe('error');
    expect(intro.payload[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(intro.payload[0].message).toMatch(/introspection/i);
    const typo = await wsOperation(socket, 't', '{ machinez { totalCount } }');
    expect(typo.payload[0].message).not.toMatch(/Did you mean/);
    // Nor in the refusal of a variable, on either door.
    const doc = 'query($f: MachineFilter) { machines(filter: $f) { totalCount } }';
    const variables = { f: { phase: 'READI', effectivState: 'IDLE' } };
    const http = await gql(port, doc, variables, null);
    expect(http.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(http.errors)).not.toMatch(/Did you mean/);
    expect(JSON.stringify((await wsOperation(socket, 'v', doc, variables)).payload)).not.toMatch(/Did you mean/);
    await closeSocket(socket);
  });
});
