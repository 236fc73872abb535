import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startReadyServer } from '../support/server-process';
import { tempDir } from '../support/temp';

const modeOf = (path: string) => `0${(statSync(path).mode & 0o777).toString(8)}`;
/** What the embedded stores and the development admin key leave in the data directory while the server runs. */
const FILES = ['events.db', 'events.db-wal', 'events.db-shm', 'read.db', 'read.db-wal', 'read.db-shm', 'admin.key'];

/** Issue 31.7: the data directory is its owner's alone. */
describe('file modes of the data directory', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('a new data directory is 0700 and every file in it 0600, the development admin key included', async () => {
    const data = join(dir.path, 'fresh');
    // No DRYDOCK_ADMIN_KEY: the server makes the development admin key file.
    const { server } = await startReadyServer({ DATA_DIR: data, DRYDOCK_ADMIN_KEY: '', LOG_LEVEL: 'warn' });
    try {
      expect(modeOf(data)).toBe('0700');
      for (const f of FILES) expect(`${f} ${modeOf(join(data, f))}`).toBe(`${f} 0600`);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('an existing one left readable to others is tightened at start, and the log names what changed', async () => {
    const data = join(dir.path, 'loose');
    mkdirSync(data, { mode: 0o755 });
    const first = await startReadyServer({ DATA_DIR: data, DRYDOCK_ADMIN_KEY: '', LOG_LEVEL: 'warn' });
    // Killed, not stopped: the WAL and shared-memory files stay behind, as after a crash.
    first.server.child.kill('SIGKILL');
    await first.server.exited;
    expect(FILES.filter((f) => existsSync(join(data, f)))).toEqual(FILES);
    chmodSync(data, 0o755);
    for (const f of FILES) chmodSync(join(data, f), 0o644);
    const { server } = await startReadyServer({ DATA_DIR: data, DRYDOCK_ADMIN_KEY: '', LOG_LEVEL: 'warn' });
    try {
      expect(modeOf(data)).toBe('0700');
      for (const f of FILES) expect(`${f} ${modeOf(join(data, f))}`).toBe(`${f} 0600`);
      const tightened = server
        .output()
        .split('\n')
        .filter((l) => l.includes('tightened the modes of'))
        .join('\n');
      for (const path of [data, ...FILES.map((f) => join(data, f))]) expect(tightened).toContain(`"path":"${path}","from":"0${path === data ? 755 : 644}"`);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
