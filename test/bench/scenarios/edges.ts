import { readFileSync } from 'node:fs';
import { gql } from '../../support/api-client';
import { acknowledgedSocket, type RawSocket } from '../../support/raw-ws';
import { freePort, startServer, TEST_ADMIN_KEY, waitFor } from '../../support/server-process';
import { measurePair, Row, spreadOf } from '../harness';
import { API_BENCH_ENV } from './api';
import type { BenchContext } from './write-path';

/** `n` fragments, each spreading the next one twice. */
export function fanOut(n: number): string {
  let doc = 'query { machines { ...F0 } }\n';
  for (let i = 0; i < n; i++) doc += `fragment F${i} on MachineConnection { totalCount ${i < n - 1 ? `...F${i + 1} ...F${i + 1}` : ''} }\n`;
  return doc;
}

const PLAIN = '{ machines(first: 1) { totalCount } }';
const CAP = 32; // graphql.max_subscriptions_per_socket's default

async function timed(port: number, query: string, expectStatus: number): Promise<number> {
  const started = performance.now();
  const res = await fetch(`http://localhost:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}` },
    // A fresh text each time: the refusal is measured from the lexer on, not from a cache.
    body: JSON.stringify({ query: `${query}\n# ${Math.random()}` }),
  });
  await res.text();
  if (res.status !== expectStatus) throw new Error(`expected HTTP ${expectStatus}, got ${res.status}`);
  return performance.now() - started;
}

/** The server's resident memory in KiB, from /proc (Linux). */
const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
const settle = () => new Promise((r) => setTimeout(r, 1_500));

/**
 * The edges (issue 31): how long the refusal of the n = 60 fan-out document takes, beside a
 * one-row query measured in turns with it; and what a WebSocket costs the server, idle and with
 * its subscriptions at the cap (resident memory over many sockets, divided by their number).
 */
export async function edgesScenario(ctx: BenchContext): Promise<Row[]> {
  const port = await freePort();
  // The caps at their defaults but the per-key ones, which the many sockets of one key would reach.
  const server = startServer({ ...ctx.stores.place('edges').env, ...API_BENCH_ENV, GRAPHQL_MAX_SUBSCRIPTIONS_PER_SOCKET: String(CAP) }, port);
  const sockets: RawSocket[] = [];
  try {
    await waitFor(async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 'the server').catch((err: Error) => {
      throw new Error(`${err.message}: ${server.output().slice(-2000)}`);
    });
    await gql(port, 'mutation { registerMachines(input: { ids: ["edge-1"], phase: READY }) { id } }');
    const rounds = { warmup: 10, rounds: ctx.quick ? 30 : 100 };
    const pair = await measurePair(
      () => timed(port, PLAIN, 200),
      () => timed(port, fanOut(60), 400),
      rounds,
    );
    const worst = pair.figure.max;

    const count = ctx.quick ? 50 : 200;
    const pid = server.child.pid!;
    await settle();
    const before = rssKiB(pid);
    for (let i = 0; i < count; i++) sockets.push(await acknowledgedSocket(port, TEST_ADMIN_KEY));
    await settle();
    const idle = rssKiB(pid);
    for (const s of sockets) for (let j = 0; j < CAP; j++) s.send({ id: `s${j}`, type: 'subscribe', payload: { query: 'subscription { machineChanged(id: "edge-1") { id revision } }' } });
    await waitFor(async () => {
      const m = await (await fetch(`http://localhost:${port}/metrics`)).text();
      return Number(/drydock_graphql_subscriptions_active (\d+)/.exec(m)?.[1] ?? 0) >= count * CAP;
    }, 30_000, 'every subscription to open');
    await settle();
    const full = rssKiB(pid);
    const perIdle = (idle - before) / count;
    const perFull = (full - before) / count;
    return [
      {
        scenario: 'refusal of the n = 60 fan-out document (median of rounds)',
        figure: pair.figure.median,
        unit: 'ms',
        baseline: pair.baseline.median,
        baselineName: 'a one-row query',
        ratio: pair.figure.median / pair.baseline.median,
        target: 'slowest < 100 ms',
        pass: worst < 100,
        spread: spreadOf(pair.figure),
        detail: { slowestMs: worst, baseline: pair.baseline },
      },
      {
        scenario: `server memory per WebSocket with ${CAP} subscriptions (the cap), ${count} sockets`,
        figure: perFull,
        unit: 'KiB',
        baseline: perIdle,
        baselineName: 'an idle socket',
        ratio: perIdle > 0 ? perFull / perIdle : null,
        target: 'info',
        pass: null,
        spread: 'one sample',
        detail: { rssKiB: { before, idle, full }, sockets: count, subscriptionsPerSocket: CAP },
      },
    ];
  } finally {
    for (const s of sockets) s.ws.terminate();
    server.child.kill('SIGTERM');
    await server.exited;
  }
}
