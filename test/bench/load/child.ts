/**
 * Load generators and the bare baseline server run in processes of their own, so the process
 * under test never shares its event loop with the load. A child prints one JSON line, its result.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { NODE_FLAGS } from '../../support/server-process';

export interface Child<T> {
  child: ChildProcess;
  /** The child's one JSON line of output. */
  result: Promise<T>;
}

/** Children run with `npm start`'s Node flags, like Drydock's server: baselines get the same runtime. */
export function runChild<T>(script: string, args: unknown, env: Record<string, string> = {}): Child<T> {
  const child = spawn(process.execPath, [...NODE_FLAGS, join(__dirname, `${script}.js`), JSON.stringify(args)], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const result = new Promise<T>((resolve, reject) =>
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line) return resolve(JSON.parse(line) as T);
      reject(new Error(`${script} exited ${code}: ${err.slice(-2000)}`));
    }),
  );
  return { child, result };
}

/** What a child does with its result: one JSON line on stdout. */
export function report(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

export function childArgs<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}
