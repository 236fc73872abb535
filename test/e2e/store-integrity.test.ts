import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { gql } from '../support/api-client';
import { damageLeaf, damageMiddle } from '../support/damage';
import { freePort, ServerProcess, startReadyServer, startServer, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

const meta = { actor: 'seed', correlationId: 'seed', causationId: null, requestId: null, occurredAt: new Date().toISOString(), schemaVersion: 1 };
const MACHINES = 1000;

/** A log of MACHINES machines, 8 events each: files of a few hundred pages. */
async function seed(data: string): Promise<void> {
  const events = new SqliteEventStore(join(data, 'events.db'));
  const at = new Date().toISOString();
  await Promise.all(
    Array.from({ length: MACHINES }, (_, m) =>
      events.append(
        `machine-k${m}`,
        [
          { id: randomUUID(), type: 'MachineRegistered', data: { id: `k${m}`, phase: 'READY', hypervisor: false, capacity: null, labels: {}, at, effectiveState: 'IDLE', allocatable: true }, metadata: meta },
          ...Array.from({ length: 7 }, (_, i) => ({ id: randomUUID(), type: 'MachineLabelsChanged', data: { id: `k${m}`, labels: { n: String(i), pad: 'p'.repeat(100) }, at }, metadata: meta })),
        ],
        'no_stream',
      ),
    ),
  );
  await events.close();
}

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  await server.exited;
}

const INTEGRITY = '{ storeIntegrity(timeoutSeconds: 30) { ok eventStore { store status details milliseconds } readStore { store status details } } }';

describe('garbage inside the stores', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('a damaged events.db: the start is refused, naming the file and what quick_check found', async () => {
    const data = join(dir.path, 'events');
    await seed(data);
    damageMiddle(join(data, 'events.db'));
    const server = startServer({ DATA_DIR: data }, await freePort());
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(/the event log .*events\.db failed its integrity check \(PRAGMA quick_check\): Tree \d+ page \d+.*Restore it from a backup/);
    expect(server.output()).not.toMatch(/Drydock listening/);
  }, 60_000);

  it('a damaged read.db: set aside, and the read models rebuilt from the log before the app is ready', async () => {
    const data = join(dir.path, 'read');
    await seed(data);
    const first = await startReadyServer({ DATA_DIR: data, LOG_LEVEL: 'warn' });
    await stop(first.server);
    damageMiddle(join(data, 'read.db'));
    const port = await freePort();
    const server = startServer({ DATA_DIR: data, LOG_LEVEL: 'info' }, port);
    try {
      const answers: Array<string | number> = [];
      await waitFor(async () => {
        const res = await fetch(`http://localhost:${port}/readyz`).catch(() => null);
        if (!res) return false;
        const r = await gql(port, '{ machines(first: 1) { totalCount } }');
        answers.push(r.errors?.[0]?.extensions?.code ?? r.data!.machines.totalCount);
        return res.status === 200;
      }, 90_000, 'readiness');
      const damaged = server.output().split('\n').find((l) => l.includes('the read store is damaged'));
      expect(JSON.parse(damaged!)).toMatchObject({ level: 50, file: join(data, 'read.db'), keptAs: expect.stringMatching(/read\.db\.damaged-/), details: expect.arrayContaining([expect.stringMatching(/^Tree \d+ page \d+/)]) });
      expect(readdirSync(data).filter((f) => f.startsWith('read.db.damaged-') && !f.endsWith('-wal') && !f.endsWith('-shm'))).toHaveLength(1);
      // Never an INTERNAL, never a part of the fleet: refused until whole.
      for (const a of answers) expect(['UNAVAILABLE', MACHINES]).toContain(a);
      expect(answers.at(-1)).toBe(MACHINES);
      const report = await gql(port, INTEGRITY);
      expect(report.data!.storeIntegrity).toMatchObject({ ok: true, readStore: { status: 'OK', details: [] } });
    } finally {
      await stop(server);
    }
  }, 120_000);

  /** /readyz: its status, and what it says of the event store and the read store. */
  const readiness = async (port: number) => {
    const res = await fetch(`http://localhost:${port}/readyz`);
    const body = (await res.json()) as { checks?: Record<string, { status: string; reason?: string; error?: string }>; message?: { checks: Record<string, { status: string; reason?: string; error?: string }> } };
    const checks = body.checks ?? body.message!.checks;
    return { status: res.status, eventStore: checks.eventStore, readStore: checks.readStore };
  };

  /** Issue 31, finding 3: a damaged store is an answer that says so, never INTERNAL, and the instance is not ready. */
  it('a damaged events.db served unchecked: what crosses the damage is UNAVAILABLE (EVENT_STORE_DAMAGED), and /readyz is 503 from then on', async () => {
    const data = join(dir.path, 'served');
    await seed(data);
    // Read models built first: the damaged start has nothing to catch up, so it becomes ready.
    const first = await startReadyServer({ DATA_DIR: data, LOG_LEVEL: 'warn' });
    await stop(first.server);
    // A page of events in the middle of the log unreadable: SQLite says SQLITE_CORRUPT on a read that reaches it.
    damageLeaf(join(data, 'events.db'));
    const env = { DATA_DIR: data, LOG_LEVEL: 'warn', STORAGE_INTEGRITY_CHECK_TIMEOUT_MS: '0' };

    // A corruption error on a read.
    let { server, port } = await startReadyServer(env);
    try {
      const verified = await gql(port, '{ verifyLog { ok } }');
      expect(verified.errors).toHaveLength(1);
      expect(verified.errors![0].extensions).toEqual({ code: 'UNAVAILABLE', reason: 'EVENT_STORE_DAMAGED', retryable: false, store: expect.stringMatching(/events\.db\)$/) });
      expect(verified.errors![0].message).toMatch(/^the event store is damaged \(sqlite event store \(.*events\.db\): database disk image is malformed\)\. Stop Drydock and restore the event log \(events\.db\) from a backup/);
      // Any read across the damage says the same.
      const history = await gql(port, '{ events(first: 1000, after: "3000") { nodes { id } } }');
      expect(history.errors![0].extensions).toMatchObject({ code: 'UNAVAILABLE', reason: 'EVENT_STORE_DAMAGED' });
      expect(await readiness(port)).toMatchObject({ status: 503, eventStore: { status: 'damaged', reason: 'EVENT_STORE_DAMAGED', error: expect.stringMatching(/restore the event log/) }, readStore: { status: 'ok' } });
      await waitFor(() => /"reason":"EVENT_STORE_DAMAGED".*a store is damaged: the request was refused/.test(server.output()), 5_000, 'the log line');
    } finally {
      await stop(server);
    }

    // The integrity check finding it, nothing else read.
    ({ server, port } = await startReadyServer(env));
    try {
      expect((await readiness(port)).status).toBe(200);
      expect((await gql(port, INTEGRITY)).data!.storeIntegrity).toMatchObject({ ok: false, eventStore: { status: 'DAMAGED' } });
      expect(await readiness(port)).toMatchObject({ status: 503, eventStore: { status: 'damaged', reason: 'EVENT_STORE_DAMAGED' } });
    } finally {
      await stop(server);
    }
  }, 120_000);

  it('a damaged read.db served unchecked: what crosses the damage is UNAVAILABLE (READ_STORE_DAMAGED), and /readyz is 503 from then on', async () => {
    const data = join(dir.path, 'served-read');
    await seed(data);
    const first = await startReadyServer({ DATA_DIR: data, LOG_LEVEL: 'warn' });
    await stop(first.server);
    damageLeaf(join(data, 'read.db'), 'rm_machines_g*');
    const port = await freePort();
    const server = startServer({ DATA_DIR: data, LOG_LEVEL: 'warn', STORAGE_INTEGRITY_CHECK_TIMEOUT_MS: '0' }, port);
    try {
      // What the instance reads of the machines at start crosses the damage: it is never ready, and says why.
      await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 503 && (await readiness(port)).readStore.status === 'damaged', 30_000, 'the read store seen damaged');
      const fleet = await gql(port, '{ machines(first: 500) { totalCount nodes { id } } }');
      expect(fleet.errors![0].extensions).toEqual({ code: 'UNAVAILABLE', reason: 'READ_STORE_DAMAGED', retryable: false, store: expect.stringMatching(/read\.db\)$/) });
      expect(fleet.errors![0].message).toMatch(/^the read store is damaged \(sqlite read store \(.*read\.db\): database disk image is malformed\)\. The read models are rebuilt from the event log/);
      expect(await readiness(port)).toMatchObject({ status: 503, eventStore: { status: 'ok' }, readStore: { status: 'damaged', reason: 'READ_STORE_DAMAGED' } });
    } finally {
      await stop(server);
    }
  }, 120_000);

  it('storeIntegrity: OK on whole stores; DAMAGED with its findings on a damaged log the app was started on unchecked', async () => {
    const data = join(dir.path, 'query');
    await seed(data);
    let { server, port } = await startReadyServer({ DATA_DIR: data, LOG_LEVEL: 'warn' });
    try {
      const whole = await gql(port, INTEGRITY);
      expect(whole.errors).toBeUndefined();
      expect(whole.data!.storeIntegrity).toEqual({
        ok: true,
        eventStore: { store: expect.stringMatching(/^sqlite event store \(.*events\.db\)$/), status: 'OK', details: [], milliseconds: expect.any(Number) },
        readStore: { store: expect.stringMatching(/^sqlite read store \(.*read\.db\)$/), status: 'OK', details: [] },
      });
      const bad = await gql(port, '{ storeIntegrity(timeoutSeconds: 0) { ok } }');
      expect(bad.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'timeoutSeconds' });
    } finally {
      await stop(server);
    }
    damageMiddle(join(data, 'events.db'));
    ({ server, port } = await startReadyServer({ DATA_DIR: data, LOG_LEVEL: 'warn', STORAGE_INTEGRITY_CHECK_TIMEOUT_MS: '0' }));
    try {
      const found = await gql(port, INTEGRITY);
      expect(found.data!.storeIntegrity).toMatchObject({ ok: false, eventStore: { status: 'DAMAGED', details: expect.arrayContaining([expect.stringMatching(/^Tree \d+ page \d+/)]) }, readStore: { status: 'OK' } });
      // The log line travels on the server's stdout, not with the answer: it may come a moment after.
      await waitFor(() => /integrity check: the store is damaged/.test(server.output()), 5_000, 'the log line');
    } finally {
      await stop(server);
    }
  }, 120_000);
});
