import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { gql } from '../support/api-client';
import { freePort, ServerProcess, startReadyServer, startServer, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

const meta = { actor: 'seed', correlationId: 'seed', causationId: null, requestId: null, occurredAt: new Date().toISOString(), schemaVersion: 1 };
const MACHINES = 2000;

/** A log written before the app starts: MACHINES machines, 8 events each, so that building the read models takes a while. */
async function seed(data: string): Promise<void> {
  const events = new SqliteEventStore(join(data, 'events.db'));
  const at = new Date().toISOString();
  await Promise.all(
    Array.from({ length: MACHINES }, (_, m) =>
      events.append(
        `machine-k${m}`,
        [
          { id: randomUUID(), type: 'MachineRegistered', data: { id: `k${m}`, phase: 'READY', hypervisor: false, capacity: null, labels: {}, at, effectiveState: 'IDLE', allocatable: true }, metadata: meta },
          ...Array.from({ length: 7 }, (_, i) => ({ id: randomUUID(), type: 'MachineLabelsChanged', data: { id: `k${m}`, labels: { n: String(i) }, at }, metadata: meta })),
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

function removeFile(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
}

type Runner = { name: string; serving?: boolean; error?: string; rebuild?: unknown };
interface Seen {
  ready: Array<{ status: number; refused: Runner[] }>;
  answers: Array<{ code?: string; count?: number; found?: boolean }>;
}

/**
 * Starts the server and, until it is ready, keeps asking /readyz and the machines read model
 * (a machine `probe` and the count): what an operator and a client would have been told.
 */
async function startWatching(env: Record<string, string>, probe: string): Promise<{ server: ServerProcess; port: number; seen: Seen }> {
  const port = await freePort();
  const server = startServer(env, port);
  const seen: Seen = { ready: [], answers: [] };
  await waitFor(async () => {
    const res = await fetch(`http://localhost:${port}/readyz`).catch(() => null);
    if (!res) return false;
    const body = (await res.json()) as { checks: { subscriptions: Runner[] } };
    seen.ready.push({ status: res.status, refused: body.checks.subscriptions.filter((s) => s.serving === false) });
    const r = await gql(port, `query($id: ID!) { machine(id: $id) { id } machines(first: 1) { totalCount } }`, { id: probe });
    seen.answers.push({ code: r.errors?.[0]?.extensions?.code, count: r.data?.machines?.totalCount, found: r.data?.machine ? true : undefined });
    return res.status === 200;
  }, 90_000, 'readiness');
  return { server, port, seen };
}

describe('a read store that does not match the event log is never served as if it were whole', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('events.db restored from a backup older than read.db: found at start, refused, rebuilt from the log, and new writes show', async () => {
    const data = join(dir.path, 'restored');
    await seed(data);
    let { server, port } = await startReadyServer({ DATA_DIR: data, LOG_LEVEL: 'warn' });
    await stop(server);
    // The backup: the log as it was then (closed cleanly, so the file is whole).
    copyFileSync(join(data, 'events.db'), join(dir.path, 'events.backup.db'));
    ({ server, port } = await startReadyServer({ DATA_DIR: data, LOG_LEVEL: 'warn' }));
    const lost = await gql(port, 'mutation { registerMachines(input: { ids: ["lost-1", "lost-2"], phase: READY }) { id } }');
    expect(lost.data!.registerMachines).toHaveLength(2);
    await stop(server);

    // The disk is lost; events.db comes back from the older backup, read.db from a newer one.
    removeFile(join(data, 'events.db'));
    copyFileSync(join(dir.path, 'events.backup.db'), join(data, 'events.db'));
    const watched = await startWatching({ DATA_DIR: data, LOG_LEVEL: 'warn' }, 'lost-1');
    try {
      // Until they are rebuilt, the read models are refused, and said so.
      expect(watched.seen.ready[0].status).toBe(503);
      expect(watched.seen.ready[0].refused.length).toBeGreaterThan(0);
      for (const r of watched.seen.ready[0].refused) expect(r.error).toMatch(/not served: checkpoint \d+ is past the end of the event log/);
      // Never served with machines the log does not have: refused, or the whole log's model (lost-1 is not in it).
      for (const a of watched.seen.answers) expect([{ code: 'UNAVAILABLE' }, { code: 'NOT_FOUND' }]).toContainEqual(JSON.parse(JSON.stringify(a)));
      const logged = watched.server.output().split('\n').filter((l) => l.includes('does not match the event log')).map((l) => JSON.parse(l) as { projection: string; msg: string; reason: string });
      expect(logged.map((l) => l.projection)).toContain('machines');
      expect(logged.find((l) => l.projection === 'machines')).toMatchObject({ msg: 'the read model does not match the event log: not serving it, rebuilding it from the log', reason: expect.stringMatching(/past the end of the event log/) });

      const port2 = watched.port;
      const status = await gql(port2, '{ projections { name serving notServed { reason } checkpoint lag } }');
      expect(status.data!.projections.find((p: { name: string }) => p.name === 'machines')).toMatchObject({ serving: true, notServed: null, lag: 0 });
      expect((await gql(port2, '{ machines(first: 1) { totalCount } }')).data!.machines.totalCount).toBe(MACHINES);
      // New writes land past the rebuilt checkpoint and show at once.
      const fresh = await gql(port2, 'mutation { registerMachines(input: { ids: ["after-restore"], phase: READY }) { id } }');
      expect(fresh.data!.registerMachines).toEqual([{ id: 'after-restore' }]);
      expect((await gql(port2, '{ machine(id: "after-restore") { id } }')).data!.machine).toEqual({ id: 'after-restore' });
    } finally {
      await stop(watched.server);
    }
  }, 180_000);

  it('read.db deleted: not ready, and no partial model served, until it is built from the log again', async () => {
    const data = join(dir.path, 'deleted');
    await seed(data);
    const { server } = await startReadyServer({ DATA_DIR: data, LOG_LEVEL: 'warn' });
    await stop(server);
    removeFile(join(data, 'read.db'));
    expect(existsSync(join(data, 'read.db'))).toBe(false);
    const watched = await startWatching({ DATA_DIR: data, LOG_LEVEL: 'warn' }, 'k1999');
    try {
      expect(watched.seen.ready[0].status).toBe(503);
      expect(watched.seen.ready[0].refused.length).toBeGreaterThan(0);
      for (const r of watched.seen.ready[0].refused) expect(r.error).toMatch(/not served: no read model in the read store/);
      // Every answer is a refusal or the whole model: never a part of the fleet.
      for (const a of watched.seen.answers) expect([{ code: 'UNAVAILABLE' }, { count: MACHINES, found: true }]).toContainEqual(JSON.parse(JSON.stringify(a)));
      expect(watched.seen.answers.at(-1)).toEqual({ code: undefined, count: MACHINES, found: true });
    } finally {
      await stop(watched.server);
    }
  }, 180_000);
});
