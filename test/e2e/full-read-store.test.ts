import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { gql } from '../support/api-client';
import { freePort, NODE_FLAGS, TEST_ADMIN_KEY, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

const SERVER = join(__dirname, '../../dist/test/support/capped-log-server.js');

describe('a mutation whose read model cannot show it (a full read store)', () => {
  const dir = tempDir();
  let port: number;
  let out = '';
  let child: ReturnType<typeof spawn>;

  beforeAll(async () => {
    port = await freePort();
    child = spawn(process.execPath, [...NODE_FLAGS, SERVER], {
      // The read store writes on the app's own connection, so the test can cap it.
      env: { PATH: process.env.PATH ?? '', PORT: String(port), DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn', DRYDOCK_ADMIN_KEY: TEST_ADMIN_KEY, READ_STORE_WRITER_THREAD: 'false' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'readiness');
  });
  afterAll(async () => {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    dir.cleanup();
  });

  it('answers UNAVAILABLE saying the change was recorded, never a stale or empty answer', async () => {
    expect((await gql(port, 'mutation { registerMachines(input: { ids: ["fits"] }) { id } }')).data!.registerMachines).toEqual([{ id: 'fits' }]);
    const before = out.split('capped').length;
    child.stdin!.write('cap-read 1\n');
    await waitFor(() => out.split('capped').length > before, 5_000, 'the cap');
    const ids = Array.from({ length: 40 }, (_, i) => `big-${i}`);
    const labels = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'v'.repeat(250)]));
    const r = await gql(port, 'mutation($ids: [ID!]!, $l: JSON) { registerMachines(input: { ids: $ids, labels: $l }) { id } }', { ids, l: labels });
    expect(r.data ?? null).toBeNull();
    expect(r.errors![0].extensions).toMatchObject({ code: 'UNAVAILABLE', reason: 'READ_MODEL_FAILED', projection: 'machines', recorded: true, retryable: false });
    expect(r.errors![0].message).toMatch(/the change was recorded .* Do not send it again/);
    // Recorded indeed: the log has every machine, and the read model says why it stopped.
    const logged = await gql(port, '{ events(filter: { category: "machine", types: ["MachineRegistered"] }, first: 100) { nodes { stream } } }');
    expect(logged.data!.events.nodes).toHaveLength(41);
    const p = await gql(port, '{ projections { name state failure { error } } }');
    expect(p.data!.projections.find((x: { name: string }) => x.name === 'machines')).toMatchObject({ state: 'failed', failure: { error: expect.stringMatching(/full/) } });
  });
});
