import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gql } from '../../support/api-client';
import { freePort, MAIN, startServer, TEST_ADMIN_KEY, waitFor } from '../../support/server-process';
import { Row, spreadOf, statsOf } from '../harness';
import { runChild } from '../load/child';
import type { HttpLoadArgs, HttpLoadResult } from '../load/http-load';
import type { WsLoadArgs, WsLoadResult, WsRound } from '../load/ws-load';
import type { BareFanoutArgs } from '../load/bare-fanout';
import { seedFleet } from './fleet';
import type { BenchContext } from './write-path';

/**
 * The server settings of the API scenarios: production mode, quiet logs, and a rate limit and
 * socket and subscription caps the load cannot reach (it runs a thousand subscribers on one key).
 */
export const API_BENCH_ENV = {
  NODE_ENV: 'production',
  LOG_LEVEL: 'warn',
  GRAPHQL_RATE_LIMIT_PER_MINUTE: '1000000',
  GRAPHQL_MAX_SOCKETS_PER_KEY: '100000',
  GRAPHQL_MAX_SUBSCRIPTIONS_PER_KEY: '100000',
  GRAPHQL_MAX_SUBSCRIPTIONS_PER_SOCKET: '10000',
};

export const MACHINES_PAGE = `query Page {
  machines(first: 50) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id phase effectiveState allocatable hypervisor instance labels revision activeOperation
      capacity { cpuCores memoryGiB }
      conditions { type status reason since }
      healthOverrides { source template message addedBy addedAt classifications }
    }
  }
}`;

const ready = (port: number) => async () => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200;

/** Registers `count` machines through the API, 500 a call, with a few labels each. */
export async function registerFleet(port: number, count: number, prefix = 'q'): Promise<void> {
  for (let from = 0; from < count; from += 500) {
    const ids = Array.from({ length: Math.min(500, count - from) }, (_, i) => `${prefix}${String(from + i).padStart(6, '0')}`);
    const r = await gql(port, `mutation($ids: [ID!]!) { registerMachines(input: { ids: $ids, phase: READY, labels: { rack: "r1", zone: "z1" } }) { id } }`, { ids });
    if (r.errors) throw new Error(`registerMachines: ${JSON.stringify(r.errors)}`);
  }
}

/**
 * GraphQL query throughput: `machines` (a page of 50 out of 10,000) from 64 connections of a
 * load generator in its own process, against Drydock in its own process, and against a bare
 * Apollo Server with the same schema answering the same page from memory. Rounds alternate
 * between the two so drift on a shared machine hits both alike.
 */
export async function queryThroughput(ctx: BenchContext): Promise<Row[]> {
  const fleet = 10_000;
  const seconds = ctx.quick ? 2 : 5;
  const rounds = { warmup: 1, rounds: ctx.quick ? 3 : 5 };
  const dir = join(ctx.dir, `query-${randomUUID()}`);
  mkdirSync(dir);
  // The fleet's log is written by the machine decider before the server starts; the server's
  // projections catch up on it at start-up.
  const place = ctx.stores.place('query');
  const seed = await place.events();
  await seedFleet(seed, fleet, 1);
  const head = await seed.headPosition();
  await seed.close();
  const port = await freePort();
  const server = startServer({ ...place.env, ...API_BENCH_ENV }, port);
  const barePort = await freePort();
  let bare: ReturnType<typeof runChild> | null = null;
  try {
    await waitFor(ready(port), 30_000, 'the server');
    await waitFor(async () => {
      const r = await gql<{ projections: Array<{ name: string; checkpoint: string }> }>(port, '{ projections { name checkpoint } }');
      return Number(r.data?.projections.find((p) => p.name === 'machines')?.checkpoint ?? 0) >= head;
    }, 60_000, 'the machines projection');
    const answer = await gql(port, MACHINES_PAGE);
    if (answer.errors || answer.data?.machines?.nodes?.length !== 50) throw new Error(`machines page: ${JSON.stringify(answer).slice(0, 500)}`);
    const pageFile = join(dir, 'page.json');
    writeFileSync(pageFile, JSON.stringify(answer.data.machines));
    bare = runChild('bare-apollo', { schemaFile: join(MAIN, '../../../schema.graphql'), pageFile, port: barePort }, { NODE_ENV: 'production' });
    bare.result.catch(() => undefined); // it runs until it is killed
    await waitFor(async () => (await fetch(`http://localhost:${barePort}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{__typename}"}' }).catch(() => null))?.ok === true, 30_000, 'the bare Apollo server');

    const body = JSON.stringify({ query: MACHINES_PAGE });
    const targets = {
      drydock: { url: `http://localhost:${port}/graphql`, headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}` } },
      bare: { url: `http://localhost:${barePort}/`, headers: { 'content-type': 'application/json' } },
    };
    // Both answer the same document with the same JSON, or the comparison means nothing.
    const answerOf = async (t: { url: string; headers: Record<string, string> }) => JSON.stringify(await (await fetch(t.url, { method: 'POST', headers: t.headers, body })).json());
    if ((await answerOf(targets.drydock)) !== (await answerOf(targets.bare))) throw new Error('the bare server answers differently from Drydock');

    // Warm-up pairs, then the measured pairs, Drydock first in each: all from one generator process.
    const order = Array.from({ length: rounds.warmup + rounds.rounds }, () => [targets.drydock, targets.bare]).flat();
    const results = await runChild<HttpLoadResult[]>('http-load', { runs: order, body, connections: 64, seconds } satisfies HttpLoadArgs).result;
    for (const r of results) if (r.non2xx || r.errors || r.timeouts) throw new Error(`load against ${r.url}: ${JSON.stringify(r)}`);
    const measured = results.slice(2 * rounds.warmup);
    const runs = { drydock: measured.filter((_, i) => i % 2 === 0), bare: measured.filter((_, i) => i % 2 === 1) };
    const ourStats = statsOf(runs.drydock.map((r) => r.requestsPerSecond));
    const bareStats = statsOf(runs.bare.map((r) => r.requestsPerSecond));
    const ratio = ourStats.median / bareStats.median;
    const p99 = (xs: HttpLoadResult[]) => Math.max(...xs.map((x) => x.p99));
    return [
      {
        scenario: `GraphQL query throughput, machines page of 50 (of ${fleet.toLocaleString('en-US')}), 64 connections`,
        figure: ourStats.median,
        unit: 'requests/s',
        baseline: bareStats.median,
        baselineName: 'bare Apollo, same schema, page in memory',
        ratio,
        target: 'ratio >= 0.6',
        pass: ratio >= 0.6,
        spread: spreadOf(ourStats),
        detail: { bare: bareStats, drydockP99Ms: p99(runs.drydock), bareP99Ms: p99(runs.bare) },
      },
    ];
  } finally {
    bare?.child.kill('SIGTERM');
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

/**
 * Mutation -> subscription message: 1,000 graphql-ws subscribers and 200 label changes a second
 * round-robin over the watched machines, from a load generator in its own process. Every change
 * must reach every subscriber of its machine. The target row has one subscriber per machine
 * (200 messages a second); a second row puts ten on each of 100 machines (2,000 a second).
 */
export async function subscriptionFanout(ctx: BenchContext): Promise<Row[]> {
  const rows: Row[] = [];
  // The fan-out run is in the full suite only, to keep --quick under two minutes.
  for (const perMachine of ctx.quick ? [1] : [1, 10]) rows.push(...(await subscriptionRun(ctx, perMachine)));
  return rows;
}

async function subscriptionRun(ctx: BenchContext, perMachine: number): Promise<Row[]> {
  const subscribers = 1_000;
  const machines = subscribers / perMachine;
  const perSecond = 200;
  // A warm-up round per server at the same pace, then the measured rounds, Drydock's and the
  // floor's in turns: the figure is the median of the rounds' p99, each round's own beside it.
  const rounds = ctx.quick ? 3 : 5;
  const mutations = ctx.quick ? 400 : 2_000;
  const port = await freePort();
  const server = startServer({ ...ctx.stores.place('fanout').env, ...API_BENCH_ENV }, port);
  const floorPort = await freePort();
  const floor = runChild('bare-fanout', { schemaFile: join(MAIN, '../../../schema.graphql'), stores: ctx.stores.place('floor').env, port: floorPort } satisfies BareFanoutArgs, { NODE_ENV: 'production' });
  floor.result.catch(() => undefined); // it runs until it is killed
  try {
    await waitFor(ready(port), 30_000, 'the server');
    await waitFor(async () => (await gql(floorPort, '{ projections { lag } }').catch(() => null))?.data !== undefined, 30_000, 'the floor server');
    await registerFleet(port, machines, 'sub');
    const machineIds = Array.from({ length: machines }, (_, i) => `sub${String(i).padStart(6, '0')}`);
    const diskProbeFile = join(ctx.dir, `disk-probe-${randomUUID()}`);
    const r = await runChild<WsLoadResult>('ws-load', {
      targets: [
        { name: 'drydock', port, key: TEST_ADMIN_KEY, metrics: true },
        { name: 'floor', port: floorPort, key: TEST_ADMIN_KEY, metrics: false },
      ],
      machineIds,
      subscribers,
      mutations,
      rounds,
      warmupMutations: ctx.quick ? 200 : 1_000,
      perSecond,
      waitMs: 30_000,
      diskProbeFile,
    } satisfies WsLoadArgs).result;
    const ours = r.rounds.filter((x) => x.target === 'drydock');
    const floors = r.rounds.filter((x) => x.target === 'floor');
    const expected = ours.reduce((n, x) => n + x.expected, 0);
    const received = ours.reduce((n, x) => n + x.received, 0);
    const mutationErrors = ours.reduce((n, x) => n + x.mutationErrors, 0);
    const floorLost = floors.reduce((n, x) => n + x.expected - x.received + x.mutationErrors, 0);
    if (floorLost > 0) throw new Error(`the floor server lost messages or mutations: ${JSON.stringify(floors)}`);
    const p99 = statsOf(ours.map((x) => x.p99));
    const floorP99 = statsOf(floors.map((x) => x.p99));
    const each = (xs: WsRound[], f: (x: WsRound) => number, digits = 1) => xs.map((x) => f(x).toFixed(digits)).join(', ');
    const label = `mutation -> subscription message, ${subscribers.toLocaleString('en-US')} subscribers, ${perMachine} per machine, ${perSecond} mutations/s (${(perSecond * perMachine).toLocaleString('en-US')} messages/s)`;
    const target = perMachine === 1;
    const reference = (scenario: string, figure: number, unit: string, spread: string): Row => ({ scenario: `  for reference: ${scenario}`, figure, unit, baseline: null, baselineName: null, ratio: null, target: '—', pass: null, spread });
    return [
      { scenario: `${label}, p50 (median of ${rounds} rounds)`, figure: statsOf(ours.map((x) => x.p50)).median, unit: 'ms', baseline: statsOf(floors.map((x) => x.p50)).median, baselineName: 'the floor, p50', ratio: null, target: '—', pass: null, spread: `rounds ${each(ours, (x) => x.p50)} ms; p90 ${each(ours, (x) => x.p90)} ms` },
      {
        scenario: `${label}, p99 (median of ${rounds} rounds of ${mutations.toLocaleString('en-US')})`,
        figure: p99.median,
        unit: 'ms',
        baseline: floorP99.median,
        baselineName: 'the floor, p99 (a bare server: same protocol, one durable append per mutation)',
        ratio: null,
        target: `${target ? 'p99 <= 25 ms, ' : ''}none lost (${received.toLocaleString('en-US')}/${expected.toLocaleString('en-US')})`,
        pass: (!target || p99.median <= 25) && received === expected && mutationErrors === 0,
        spread: `rounds ${each(ours, (x) => x.p99)} ms (floor ${each(floors, (x) => x.p99)}); all rounds together ${r.pooled.drydock.p99.toFixed(1)} (floor ${r.pooled.floor.p99.toFixed(1)}), max ${r.pooled.drydock.max.toFixed(1)} ms; generator loop p99 ${each(ours, (x) => x.generatorLoopDelayP99)} ms`,
        detail: { ...r },
      },
      ...(perMachine === 1
        ? [
            reference(`the server's own durable appends during its rounds, over 25 ms`, ours.reduce((n, x) => n + (x.serverAppends?.over25ms ?? 0), 0), 'appends', `rounds ${each(ours, (x) => x.serverAppends?.over25ms ?? NaN, 0)} of ${each(ours, (x) => x.serverAppends?.count ?? NaN, 0)}; ${ours.reduce((n, x) => n + (x.serverAppends?.over100ms ?? 0), 0)} over 100 ms`),
            reference(`the disk itself during Drydock's rounds, a bare 4 KiB write + fdatasync every 20 ms, p99 (median of rounds)`, statsOf(ours.map((x) => x.diskProbe.p99)).median, 'ms', `rounds ${each(ours, (x) => x.diskProbe.p99)} ms (floor's rounds ${each(floors, (x) => x.diskProbe.p99)}); max ${each(ours, (x) => x.diskProbe.max)} ms`),
          ]
        : []),
    ];
  } finally {
    floor.child.kill('SIGTERM');
    server.child.kill('SIGTERM');
    await server.exited;
  }
}
