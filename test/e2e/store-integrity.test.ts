import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { gql } from '../support/api-client';
import { damageMiddle } from '../support/damage';
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
      expect(server.output()).toMatch(/integrity check: the store is damaged/);
    } finally {
      await stop(server);
    }
  }, 120_000);
});
