import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { gql } from '../support/api-client';
import { freePort, NODE_FLAGS, TEST_ADMIN_KEY, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

const SERVER = join(__dirname, '../../dist/test/support/capped-log-server.js');

describe('registerMachines when the disk fills part-way', () => {
  const dir = tempDir();
  let port: number;
  let out = '';
  let child: ReturnType<typeof spawn>;

  beforeAll(async () => {
    port = await freePort();
    child = spawn(process.execPath, [...NODE_FLAGS, SERVER], {
      env: { PATH: process.env.PATH ?? '', PORT: String(port), DATA_DIR: join(dir.path, 'data'), LOG_LEVEL: 'warn', DRYDOCK_ADMIN_KEY: TEST_ADMIN_KEY },
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

  /** A real SQLITE_FULL: the app's event log may grow by `spare` pages more. */
  async function capEventLog(spare: number): Promise<void> {
    const before = out.split('capped').length;
    child.stdin!.write(`cap ${spare}\n`);
    await waitFor(() => out.split('capped').length > before, 5_000, 'the cap');
  }

  it('registers no machine at all, says why with a typed error, and registers them all once there is room', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => `full-${String(i).padStart(2, '0')}`);
    // Labels make each registration a few KB: the first ones fit in the room left, the rest do not.
    const labels = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`label-${i}`, 'v'.repeat(60)]));
    const register = `mutation($i: RegisterMachinesInput!) { registerMachines(input: $i) { id } }`;
    await capEventLog(6);
    const refused = await gql(port, register, { i: { ids, phase: 'READY', labels } });
    // Nothing is in the log for any of them, so nothing shows, and a retry is not refused as "already registered".
    const events = await gql(port, `{ events(first: 1000) { nodes { stream } } }`);
    expect(events.data!.events.nodes.filter((n: { stream: string }) => n.stream.startsWith('machine-full-'))).toEqual([]);
    expect((await gql(port, `{ machines(first: 500) { totalCount } }`)).data!.machines.totalCount).toBe(0);
    expect(refused.data).toBeNull();
    expect(refused.errors![0].extensions).toMatchObject({ code: 'UNAVAILABLE', reason: 'EVENT_STORE_FULL', retryable: true });

    await capEventLog(100_000);
    const again = await gql(port, register, { i: { ids, phase: 'READY', labels } });
    expect(again.errors).toBeUndefined();
    expect(again.data!.registerMachines.map((m: { id: string }) => m.id)).toEqual(ids);
  });
});
