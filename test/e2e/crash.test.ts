import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { gql } from '../support/api-client';
import { freePort, startServer, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

const meta = { actor: 'seed', correlationId: 'seed', causationId: null, requestId: null, occurredAt: new Date().toISOString(), schemaVersion: 1 };

async function machinesSnapshot(port: number) {
  const all: unknown[] = [];
  let after: string | null = null;
  for (;;) {
    const page: any = await gql(port, `query($after: String) { machines(first: 500, after: $after) { nodes { id phase labels revision } pageInfo { hasNextPage endCursor } } }`, { after });
    all.push(...page.data.machines.nodes);
    if (!page.data.machines.pageInfo.hasNextPage) return all;
    after = page.data.machines.pageInfo.endCursor;
  }
}

describe('the app killed with SIGKILL in the middle of a projection batch', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('restarts to read models equal to a rebuild from scratch', async () => {
    const data = join(dir.path, 'data');
    // A log written before the app starts: 3,000 machines, 8 events each.
    const events = new SqliteEventStore(join(data, 'events.db'));
    const at = new Date().toISOString();
    await Promise.all(
      Array.from({ length: 3000 }, (_, m) =>
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
    const head = await events.headPosition();
    await events.close();

    const port = await freePort();
    const first = startServer({ DATA_DIR: data, LOG_LEVEL: 'warn', PROJECTION_BATCH_SIZE: '50' }, port);
    await waitFor(async () => {
      const r: any = await gql(port, `{ projections { name checkpoint } }`).catch(() => null);
      return Number(r?.data?.projections?.find((p: any) => p.name === 'machines')?.checkpoint ?? 0) > 2000;
    }, 30_000, 'the projection to be under way');
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startServer({ DATA_DIR: data, LOG_LEVEL: 'warn' }, port);
    try {
      await waitFor(async () => {
        const r: any = await gql(port, `{ projections { name checkpoint } }`).catch(() => null);
        return Number(r?.data?.projections?.find((p: any) => p.name === 'machines')?.checkpoint ?? 0) >= head;
      }, 60_000, 'the projection to catch up');
      const resumed = await machinesSnapshot(port);
      expect(resumed).toHaveLength(3000);
      await gql(port, `mutation { rebuildProjection(name: "machines") { name } }`);
      await waitFor(async () => {
        const r: any = await gql(port, `{ projections { name state rebuild { progress } } }`);
        const m = r.data.projections.find((p: any) => p.name === 'machines');
        return m.state === 'running' && m.rebuild === null;
      }, 60_000, 'the rebuild');
      expect(await machinesSnapshot(port)).toEqual(resumed);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 120_000);
});
