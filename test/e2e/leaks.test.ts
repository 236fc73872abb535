import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import WebSocket from 'ws';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { gql, gqlResponse, Key } from '../support/api-client';
import { ServerProcess, startReadyServer, TEST_ADMIN_KEY, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

/** Issue 31.7: what the API says to one caller tells it nothing it may not see. */
describe('smaller leaks', () => {
  const dir = tempDir();
  const data = () => join(dir.path, 'data');
  let server: ServerProcess;
  let port: number;
  let tenant: string;
  let otherTenant: string;
  let repair: string;
  let otherRepair: string;
  let operator: string;
  let auditor: string;

  const createKey = async (role: string, tenantId?: string, name = `${role}-${tenantId ?? 'x'}`) => {
    const r = await gql(port, 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }', { i: { role, tenantId, name } });
    if (!r.data) throw new Error(JSON.stringify(r.errors));
    return r.data.createApiKey.key as string;
  };
  const register = async (id: string) => {
    const r = await gql(port, `mutation { registerMachines(input: { ids: ["${id}"], phase: READY }) { id } }`);
    if (!r.data) throw new Error(JSON.stringify(r.errors));
  };
  const allocate = (key: Key, requestId: string, machineId: string) =>
    gql(port, 'mutation($i: AllocateInstanceInput!) { allocateInstance(input: $i) { id machineId } }', { i: { requestId, machineId } }, key);
  const head = async () => {
    const store = new SqliteEventStore(join(data(), 'events.db'));
    try {
      return await store.headPosition();
    } finally {
      await store.close();
    }
  };

  beforeAll(async () => {
    ({ server, port } = await startReadyServer({ DATA_DIR: data(), LOG_LEVEL: 'info' }));
    tenant = await createKey('TENANT', 't1');
    otherTenant = await createKey('TENANT', 't2');
    repair = await createKey('REPAIR_TENANT', undefined, 'repair-a');
    otherRepair = await createKey('REPAIR_TENANT', undefined, 'repair-b');
    operator = await createKey('OPERATOR');
    auditor = await createKey('AUDITOR');
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.cleanup();
  });

  describe('refusals tell a tenant nothing of other tenants', () => {
    it("a machine another tenant holds is NOT_FOUND, word for word as one that does not exist, without the other's instance", async () => {
      await register('lk-held');
      const theirs = (await allocate(otherTenant, 'held', 'lk-held')).data!.allocateInstance;
      const none = await allocate(tenant, 'none', 'lk-no-such');
      expect(none.errors![0].extensions).toMatchObject({ code: 'NOT_FOUND' });
      const before = await head();
      for (const [mutation, type] of [['allocateInstance', 'AllocateInstanceInput'], ['createInstance', 'CreateInstanceInput']]) {
        const r = await gqlResponse(port, `mutation($i: ${type}!) { ${mutation}(input: $i) { id } }`, { i: { requestId: `take-${mutation}`, machineId: 'lk-held' } }, tenant);
        const e = r.body.errors![0];
        expect(e.extensions).toEqual({ ...none.errors![0].extensions, machineId: 'lk-held' });
        expect(e.message).toBe(none.errors![0].message.replace('lk-no-such', 'lk-held'));
        expect(JSON.stringify(r.body)).not.toContain(theirs.id);
      }
      expect(await head()).toBe(before);
    });

    it("a machine holding the caller's own instance is FAILED_PRECONDITION naming it", async () => {
      await register('lk-mine');
      const mine = (await allocate(tenant, 'mine', 'lk-mine')).data!.allocateInstance;
      const r = await allocate(tenant, 'mine-again', 'lk-mine');
      expect(r.errors![0].extensions).toMatchObject({ code: 'FAILED_PRECONDITION', machineId: 'lk-mine' });
      expect(r.errors![0].message).toContain(mine.id);
    });

    it("a repair tenant claiming a machine another repair tenant holds is FAILED_PRECONDITION, without the other's instance", async () => {
      await register('lk-repair');
      await gql(port, 'mutation { addHealthOverride(input: { machineId: "lk-repair", template: REQUEST_REPAIR, message: "fix" }) { id } }');
      const claimed = (await gql(port, 'mutation { claimMachineForRepair(input: { machineId: "lk-repair" }) { id } }', undefined, otherRepair)).data!.claimMachineForRepair;
      const r = await gql(port, 'mutation { claimMachineForRepair(input: { machineId: "lk-repair" }) { id } }', undefined, repair);
      expect(r.errors![0].extensions).toMatchObject({ code: 'FAILED_PRECONDITION', machineId: 'lk-repair' });
      expect(r.errors![0].message).toBe('machine lk-repair is claimed already');
      expect(JSON.stringify(r)).not.toContain(claimed.id);
    });
  });

  describe('key hashes never leave through history', () => {
    const hashes = () => [tenant, otherTenant, repair, otherRepair, operator, auditor].map((k) => createHash('sha256').update(k).digest('hex'));
    const readers = (): Array<[string, string]> => [['AUDITOR', auditor], ['OPERATOR', operator], ['ADMIN', TEST_ADMIN_KEY]];

    it('events and causationChain show every reader ApiKeyCreated with its name, role and tenant, and the hash redacted', async () => {
      for (const [role, key] of readers()) {
        const r = await gql(port, 'query { events(filter: { types: ["ApiKeyCreated"] }, first: 100) { nodes { id data } } }', undefined, key);
        const nodes = r.data!.events.nodes as Array<{ id: string; data: Record<string, unknown> }>;
        expect(`${role}: ${nodes.length}`).toBe(`${role}: 6`);
        for (const n of nodes) {
          expect(Object.keys(n.data).sort()).toEqual(['at', 'hash', 'id', 'name', 'role', 'tenantId']);
          expect(n.data.hash).toBe('[redacted]');
        }
        expect(nodes.map((n) => [n.data.name, n.data.role, n.data.tenantId])).toEqual([
          ['TENANT-t1', 'TENANT', 't1'],
          ['TENANT-t2', 'TENANT', 't2'],
          ['repair-a', 'REPAIR_TENANT', null],
          ['repair-b', 'REPAIR_TENANT', null],
          ['OPERATOR-x', 'OPERATOR', null],
          ['AUDITOR-x', 'AUDITOR', null],
        ]);
        const chain = await gql(port, 'query($id: ID!) { causationChain(eventId: $id) { ancestors { event { type data } } } }', { id: nodes[1].id }, key);
        expect(chain.data!.causationChain.ancestors.at(-1).event).toMatchObject({ type: 'ApiKeyCreated', data: { name: 'TENANT-t2', hash: '[redacted]' } });
        for (const h of hashes()) expect(JSON.stringify([r, chain])).not.toContain(h);
      }
    });

    it('the NDJSON export redacts them by the same rule', async () => {
      const res = await fetch(`http://localhost:${port}/audit/export?category=apikey`, { headers: { authorization: `Bearer ${auditor}` } });
      expect(res.status).toBe(200);
      const text = await res.text();
      const created = text.trim().split('\n').map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> }).filter((e) => e.type === 'ApiKeyCreated');
      expect(created.map((e) => [e.data.name, e.data.hash])).toEqual(['TENANT-t1', 'TENANT-t2', 'repair-a', 'repair-b', 'OPERATOR-x', 'AUDITOR-x'].map((n) => [n, '[redacted]']));
      for (const h of hashes()) expect(text).not.toContain(h);
    });

    it('a drift report of api_keys shows its documents without their hash', async () => {
      // Tamper with one live document behind the server's back, so that the drift check reports it.
      const db = new Database(join(data(), 'read.db'));
      try {
        db.pragma('busy_timeout = 5000');
        const [{ name: table }] = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rm\\_%api\\_keys%' ESCAPE '\\'").all() as Array<{ name: string }>;
        db.prepare(`UPDATE "${table}" SET doc = json_set(doc, '$.name', 'tampered') WHERE id = (SELECT min(id) FROM "${table}")`).run();
      } finally {
        db.close();
      }
      const r = await gql(port, '{ verifyProjection(name: "api_keys") { ok differences { kind live rebuilt } } }', undefined, auditor);
      const drift = r.data!.verifyProjection;
      expect(drift.ok).toBe(false);
      expect(drift.differences).toEqual([expect.objectContaining({ kind: 'DIFFERENT', live: expect.objectContaining({ name: 'tampered', hash: '[redacted]' }), rebuilt: expect.objectContaining({ hash: '[redacted]' }) })]);
      for (const h of hashes()) expect(JSON.stringify(r)).not.toContain(h);
    });
  });

  describe('keys in URLs are refused, and never logged', () => {
    const secret = 'dd_in-the-url-0123456789abcdefghijklmnopqrstuv';

    it.each(['key', 'api_key', 'apiKey', 'token', 'access_token', 'authorization'])('?%s=… on /graphql is a 400 BAD_USER_INPUT naming the parameter, and runs nothing', async (param) => {
      const res = await fetch(`http://localhost:${port}/graphql?${param}=${encodeURIComponent(secret)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}` },
        body: JSON.stringify({ query: 'mutation { registerMachines(input: { ids: ["lk-url"] }) { id } }' }),
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { errors: Array<{ message: string; extensions: Record<string, unknown> }> };
      expect(body.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: param });
      expect(body.errors[0].message).toMatch(/Authorization: Bearer/);
      expect((await gql(port, '{ machine(id: "lk-url") { id } }')).errors![0].extensions!.code).toBe('NOT_FOUND');
    });

    it('the export and the probes refuse them too, in their own error shape; a key-shaped value under any name is a key', async () => {
      const exp = await fetch(`http://localhost:${port}/audit/export?key=${secret}`, { headers: { authorization: `Bearer ${auditor}` } });
      expect(exp.status).toBe(400);
      expect(await exp.json()).toMatchObject({ error: { code: 'BAD_USER_INPUT', field: 'key' } });
      expect((await fetch(`http://localhost:${port}/healthz?token=${secret}`)).status).toBe(400);
      const shaped = await fetch(`http://localhost:${port}/audit/export?actor=${secret}`, { headers: { authorization: `Bearer ${auditor}` } });
      expect(shaped.status).toBe(400);
      expect(await shaped.json()).toMatchObject({ error: { code: 'BAD_USER_INPUT', field: 'actor' } });
      // Other query strings are what they were.
      expect((await fetch(`http://localhost:${port}/audit/export?category=apikey`, { headers: { authorization: `Bearer ${auditor}` } })).status).toBe(200);
    });

    it('a WebSocket upgrade with a key in its URL is refused with 400; one without still connects', async () => {
      const upgrade = (url: string) =>
        new Promise<number>((resolve, reject) => {
          const ws = new WebSocket(url, 'graphql-transport-ws');
          ws.on('unexpected-response', (_req, res) => {
            resolve(res.statusCode ?? 0);
            ws.terminate();
          });
          ws.on('open', () => {
            resolve(101);
            ws.close();
          });
          ws.on('error', (err) => (/Unexpected server response/.test(err.message) ? undefined : reject(err)));
        });
      expect(await upgrade(`ws://localhost:${port}/graphql?token=${secret}`)).toBe(400);
      expect(await upgrade(`ws://localhost:${port}/graphql`)).toBe(101);
    });

    it('the log names each refused request with the key redacted, and never shows the key', async () => {
      await waitFor(() => (server.output().match(/refused a request carrying an API key in its URL/g) ?? []).length >= 10, 3_000, 'the refusals in the log');
      expect(server.output()).toContain('token=[redacted]');
      expect(server.output()).not.toContain(secret);
      expect(server.output()).not.toContain(encodeURIComponent(secret));
    });
  });
});
