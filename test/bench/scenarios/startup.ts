import { readFileSync } from 'node:fs';
import { gql, type GqlResult } from '../../support/api-client';
import { freePort, startServer, waitFor } from '../../support/server-process';
import { fmt, Row, spreadOf, statsOf } from '../harness';
import { API_BENCH_ENV, MACHINES_PAGE } from './api';
import { seedFleet } from './fleet';
import type { BenchContext } from './write-path';

const rssOf = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
};

/**
 * Start-up with a long log: the server first catches up on a fresh log of `machines` x 10
 * events (the warm-up), stops, and is started again on the same files three times (the median is
 * the figure, in --quick too: a start there is about two seconds). Ready is /readyz answering 200
 * with every projection at the head; memory is the highest peak RSS after serving pages of the
 * whole fleet.
 */
const STARTS = 3;

export async function startupScenario(ctx: BenchContext): Promise<Row[]> {
  const machines = ctx.quick ? 10_000 : 100_000;
  const place = ctx.stores.place('startup');
  const store = await place.events();
  const seeding = performance.now();
  await seedFleet(store, machines, 10);
  const head = await store.headPosition();
  const seedSeconds = (performance.now() - seeding) / 1000;
  await store.close();

  const caughtUp = async (port: number) => {
    const r = await gql<{ projections: Array<{ lag: number; state: string }> }>(port, '{ projections { lag state } }').catch(() => null);
    return !!r?.data && r.data.projections.every((p) => p.lag === 0 && p.state === 'running');
  };
  const ready = async (port: number) => (await fetch(`http://localhost:${port}/readyz`).catch(() => null))?.status === 200;

  // First start: every projection catches up on the whole log.
  const port = await freePort();
  const server = startServer({ ...place.env, ...API_BENCH_ENV }, port);
  const firstStart = performance.now();
  try {
    await waitFor(async () => (await ready(port)) && (await caughtUp(port)), 30 * 60_000, 'the first catch-up');
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  const catchUpSeconds = (performance.now() - firstStart) / 1000;

  // Then starts on the same files, each measured: ready, caught up, serving the whole fleet.
  const start = async () => {
    const port = await freePort();
    const started = performance.now();
    const server = startServer({ ...place.env, ...API_BENCH_ENV }, port);
    try {
      await waitFor(() => ready(port), 60_000, 'readiness');
      const readyMs = performance.now() - started;
      await waitFor(() => caughtUp(port), 60_000, 'projections at the head');
      const caughtUpMs = performance.now() - started;
      await serveFleet(port, machines, ctx.quick ? 250 : 1000);
      return { readyMs, caughtUpMs, ...rssOf(server.child.pid!) };
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  };
  const starts = [];
  for (let i = 0; i < STARTS; i++) starts.push(await start());
  const caughtUpStats = statsOf(starts.map((s) => s.caughtUpMs / 1000));
  const readyStats = statsOf(starts.map((s) => s.readyMs / 1000));
  const peak = Math.max(...starts.map((s) => s.peakMb));
  const size = `${(head / 1e6).toFixed(head >= 1e6 ? 0 : 1)}M events, ${machines.toLocaleString('en-US')} machines`;
  const detail = { events: head, machines, seedSeconds, firstCatchUpSeconds: catchUpSeconds, firstCatchUpEventsPerSecond: head / catchUpSeconds, starts };
  const rounds = `median of ${starts.length} starts, ${spreadOf(caughtUpStats)}; `;
  return [
    {
      scenario: `start-up on ${size}: /readyz 200 and every projection at the head`,
      figure: caughtUpStats.median,
      unit: 's',
      baseline: null,
      baselineName: null,
      ratio: null,
      target: '<= 3 s',
      pass: caughtUpStats.median <= 3,
      spread: `${rounds}readyz after ${fmt(readyStats.median)} s; first catch-up ${fmt(catchUpSeconds)} s (${fmt(head / catchUpSeconds)} events/s)`,
      detail,
    },
    {
      scenario: `peak RSS after start-up and serving all ${machines.toLocaleString('en-US')} machines`,
      figure: peak,
      unit: 'MB',
      baseline: null,
      baselineName: null,
      ratio: null,
      target: '<= 400 MB',
      pass: peak <= 400,
      spread: `the highest of ${starts.length} starts; RSS after serving ${starts.map((s) => fmt(s.rssMb)).join(', ')} MB`,
      detail,
    },
  ];
}

/** Pages through the whole fleet (500 a page), then looks `lookups` machines up one by one. */
async function serveFleet(port: number, machines: number, lookups: number): Promise<void> {
  let after: string | null = null;
  let seen = 0;
  for (;;) {
    type Page = { machines: { nodes: unknown[]; totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string } } };
    const r: GqlResult<Page> = await gql<Page>(port, MACHINES_PAGE.replace('machines(first: 50)', 'machines(first: 500, after: $after)').replace('query Page {', 'query Page($after: String) {'), { after });
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    const page: Page['machines'] = r.data!.machines;
    seen += page.nodes.length;
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  if (seen !== machines) throw new Error(`paged ${seen} machines of ${machines}`);
  for (let i = 0; i < lookups; i++) {
    const r = await gql(port, 'query($id: ID!) { machine(id: $id) { id labels } }', { id: `f${String((i * 7919) % machines).padStart(7, '0')}` });
    if (r.errors) throw new Error(JSON.stringify(r.errors));
  }
}
