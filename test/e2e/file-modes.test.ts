import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startReadyServer, startServer, waitFor } from '../support/server-process';
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

/**
 * Starts a server that should refuse to start: its exit code and output, or `started` when it
 * became ready instead (then it is stopped).
 */
async function startRefused(env: Record<string, string>): Promise<{ code: number | null | 'started'; output: string }> {
  const port = await freePort();
  const server = startServer(env, port);
  const ready = waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'readiness').then(() => 'started' as const);
  const code = await Promise.race([server.exited, ready]);
  if (code === 'started') {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  return { code, output: server.output() };
}

/** Issue 31, finding 2: a link planted in the data directory is never followed. */
describe('symbolic links in the data directory', () => {
  const dir = tempDir();
  const baseline = join(dir.path, 'baseline');
  afterAll(() => dir.cleanup());

  beforeAll(async () => {
    // Every file of a running instance, left as a crash leaves them (the -wal and -shm files too).
    const first = await startReadyServer({ DATA_DIR: baseline, DRYDOCK_ADMIN_KEY: '', LOG_LEVEL: 'warn' });
    first.server.child.kill('SIGKILL');
    await first.server.exited;
    expect(FILES.filter((f) => existsSync(join(baseline, f)))).toEqual(FILES);
  });

  it.each(FILES)('%s as a link to a file elsewhere, in a world-writable data directory: the start is refused, naming it, and the file elsewhere is left as it was', async (name) => {
    const data = join(dir.path, `link-${name}`);
    cpSync(baseline, data, { recursive: true });
    chmodSync(data, 0o777);
    const outside = join(dir.path, `outside-${name}`);
    writeFileSync(outside, 'not drydock\'s\n');
    chmodSync(outside, 0o644);
    rmSync(join(data, name));
    symlinkSync(outside, join(data, name));
    const { code, output } = await startRefused({ DATA_DIR: data, DRYDOCK_ADMIN_KEY: '', LOG_LEVEL: 'warn' });
    expect(code).toBe(1);
    expect(output).toContain(`refusing to use ${join(data, name)}: it is a symbolic link to ${outside}`);
    expect(output).not.toMatch(/Drydock listening/);
    expect(modeOf(outside)).toBe('0644');
    expect(readFileSync(outside, 'utf8')).toBe('not drydock\'s\n');
    expect(lstatSync(join(data, name)).isSymbolicLink()).toBe(true);
  }, 60_000);

  it.each(['admin.key', 'events.db'])('%s as a dangling link: the start is refused, and nothing is made where it points', async (name) => {
    const data = join(dir.path, `dangling-${name}`);
    mkdirSync(data, { mode: 0o777 });
    chmodSync(data, 0o777);
    const outside = join(dir.path, `made-through-${name}`);
    symlinkSync(outside, join(data, name));
    // No DRYDOCK_ADMIN_KEY: in development the server makes admin.key.
    const { code, output } = await startRefused({ DATA_DIR: data, DRYDOCK_ADMIN_KEY: '', LOG_LEVEL: 'warn' });
    expect(code).toBe(1);
    expect(output).toContain(`refusing to use ${join(data, name)}: it is a symbolic link to ${outside}`);
    expect(output).not.toMatch(/Drydock development ADMIN key/);
    expect(existsSync(outside)).toBe(false);
  }, 60_000);
});
