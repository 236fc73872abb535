import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, NODE_FLAGS, startServer, waitFor } from '../support/server-process';
import { tempDir } from '../support/temp';

/** Runs a script in a child process from the repository root (it requires `./dist/...`); its stdout, once it exits 0. */
async function runScript(script: string, arg: string): Promise<string> {
  const child = spawn(process.execPath, ['-e', script, arg], { cwd: join(__dirname, '../..'), env: { PATH: process.env.PATH ?? '' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  expect({ code, err: code === 0 ? '' : err }).toEqual({ code: 0, err: '' });
  return out;
}

describe('starting the server', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('starts on the embedded stores with npm start\'s Node flags, says so in one line, and answers /healthz and /readyz', async () => {
    const port = await freePort();
    const server = startServer({ DATA_DIR: join(dir.path, 'ok') }, port);
    try {
      await waitFor(() => server.output().includes('Drydock listening'), 20_000, 'the start line');
      const line = server.output().split('\n').find((l) => l.includes('Drydock listening'))!;
      expect(JSON.parse(line).msg).toMatch(new RegExp(`http://localhost:${port} \\(event store: sqlite event store .*events\\.db\\); read store: sqlite read store .*read\\.db\\)\\)`));
      // Tests start the server as `npm start` does, with package.json's Node flags.
      expect(JSON.parse(line)).toMatchObject({ node: process.version, nodeFlags: [...NODE_FLAGS] });
      expect(NODE_FLAGS).toContain('--v8-pool-size=1');
      const health = await fetch(`http://localhost:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok' });
      const ready = await fetch(`http://localhost:${port}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', checks: { eventStore: { status: 'ok' }, readStore: { status: 'ok' } } });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('does not load the EventStoreDB or MongoDB driver when running on the embedded stores', async () => {
    // The app as `npm start` builds it, started and stopped in a child process that then reports
    // which driver packages were ever required.
    const script = `
      const { loadConfig } = require('./dist/src/config/config');
      const { createApp } = require('./dist/src/app/create-app');
      (async () => {
        const app = await createApp(loadConfig({ DATA_DIR: process.argv[1], LOG_LEVEL: 'warn', DRYDOCK_ADMIN_KEY: 'startup-test-key-0123456789' }));
        await app.init();
        await app.close();
        const loaded = (name) => Object.keys(require.cache).some((f) => f.includes('/node_modules/' + name + '/'));
        process.stdout.write(JSON.stringify({ esdb: loaded('@eventstore/db-client'), mongodb: loaded('mongodb'), sqlite: loaded('better-sqlite3') }));
      })().catch((err) => { process.stderr.write(String(err && err.stack)); process.exit(1); });`;
    const out = await runScript(script, join(dir.path, 'drivers'));
    expect(JSON.parse(out)).toEqual({ esdb: false, mongodb: false, sqlite: true });
  }, 30_000);

  it("makes every request and response with Express's prototypes, so Express never has to change them", async () => {
    // A listener ahead of Express sees each request as the HTTP server made it. An object whose
    // prototype is changed after it is made is promoted by V8 out of the young generation with
    // everything hanging off it (see src/app/http-server.ts).
    const script = `
      const { loadConfig } = require('./dist/src/config/config');
      const { createApp } = require('./dist/src/app/create-app');
      (async () => {
        const app = await createApp(loadConfig({ DATA_DIR: process.argv[1], LOG_LEVEL: 'warn', DRYDOCK_ADMIN_KEY: 'startup-test-key-0123456789' }));
        const express = app.getHttpAdapter().getInstance();
        const seen = [];
        app.getHttpServer().prependListener('request', (req, res) =>
          seen.push({ url: req.url, request: Object.getPrototypeOf(req) === express.request, response: Object.getPrototypeOf(res) === express.response }));
        await app.listen(0);
        const port = app.getHttpServer().address().port;
        const health = await fetch('http://localhost:' + port + '/healthz');
        const query = await fetch('http://localhost:' + port + '/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer startup-test-key-0123456789' }, body: JSON.stringify({ query: '{ machines(first: 1) { totalCount } }' }) });
        const body = await query.json();
        await app.close();
        process.stdout.write(JSON.stringify({ health: health.status, query: query.status, totalCount: body.data && body.data.machines.totalCount, seen }));
      })().catch((err) => { process.stderr.write(String(err && err.stack)); process.exit(1); });`;
    const out = await runScript(script, join(dir.path, 'prototypes'));
    expect(JSON.parse(out)).toEqual({
      health: 200,
      query: 200,
      totalCount: 0,
      seen: [
        { url: '/healthz', request: true, response: true },
        { url: '/graphql', request: true, response: true },
      ],
    });
  }, 30_000);

  it('logs each request with its correlation id, taken from the caller when given', async () => {
    const port = await freePort();
    const server = startServer({ DATA_DIR: join(dir.path, 'corr') }, port);
    try {
      await waitFor(() => server.output().includes('Drydock listening'));
      const res = await fetch(`http://localhost:${port}/no-such-route`, { headers: { 'x-correlation-id': 'corr-e2e-42' } });
      expect(res.headers.get('x-correlation-id')).toBe('corr-e2e-42');
      await waitFor(() => server.output().includes('corr-e2e-42'), 5_000, 'the request log line');
      const line = server.output().split('\n').find((l) => l.includes('corr-e2e-42'))!;
      const logged = JSON.parse(line);
      expect(logged).toMatchObject({ correlationId: 'corr-e2e-42', req: { method: 'GET', url: '/no-such-route' }, res: { statusCode: 404 } });
      // What identifies the request, not its headers.
      expect(logged.req.headers).toBeUndefined();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('refuses to start on an invalid config value, naming the key', async () => {
    const bad = startServer({ DATA_DIR: join(dir.path, 'bad'), AUTO_MACHINE_REPAIR_ENABLED: 'perhaps' }, 3000);
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toMatch(/auto_machine_repair_plugin\.enabled \(or env AUTO_MACHINE_REPAIR_ENABLED\)/);
    expect(bad.output()).not.toMatch(/Drydock listening/);
  });

  it('refuses to start on a corrupt event log, naming the file', async () => {
    const data = join(dir.path, 'corrupt');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'events.db'), 'this is not a database '.repeat(200));
    const server = startServer({ DATA_DIR: data }, await freePort());
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(/cannot open the event log .*events\.db/);
    expect(server.output()).not.toMatch(/Drydock listening/);
  });

  it('refuses to start on a data directory it cannot create', async () => {
    const file = join(dir.path, 'a-file');
    writeFileSync(file, 'x');
    const server = startServer({ DATA_DIR: join(file, 'sub') }, await freePort());
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(/cannot open the event log/);
  });
});
