import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root, whether this file runs from test/ (jest) or dist/test/ (benchmarks). */
const ROOT = existsSync(join(__dirname, '../../package.json')) ? join(__dirname, '../..') : join(__dirname, '../../..');
export const MAIN = join(ROOT, 'dist/src/main.js');

/**
 * The Node flags of `npm start` (`node <flags> dist/src/main.js`), read from package.json so that
 * tests and benchmarks start the server exactly as production does.
 */
export const NODE_FLAGS: readonly string[] = startFlags();

function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const words = (pkg.scripts?.start ?? '').trim().split(/\s+/);
  if (words[0] !== 'node' || words[words.length - 1] !== 'dist/src/main.js' || words.slice(1, -1).some((w) => !w.startsWith('--'))) {
    throw new Error(`package.json's start script must read "node [--flag ...] dist/src/main.js", not "${pkg.scripts?.start}"`);
  }
  return words.slice(1, -1);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface ServerProcess {
  child: ChildProcess;
  output: () => string;
  port: number;
  exited: Promise<number | null>;
}

/** The ADMIN key every test server is started with (through DRYDOCK_ADMIN_KEY). */
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdef';

/** Starts `node <flags> dist/src/main.js` (what `npm start` runs after building) with the given environment. */
export function startServer(env: Record<string, string>, port: number): ServerProcess {
  let out = '';
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), LOG_LEVEL: 'info', DRYDOCK_ADMIN_KEY: TEST_ADMIN_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, port, exited };
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Starts a server on a free port and waits until /readyz answers 200. */
export async function startReadyServer(env: Record<string, string>): Promise<{ server: ServerProcess; port: number }> {
  const port = await freePort();
  const server = startServer(env, port);
  await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'readiness');
  return { server, port };
}
